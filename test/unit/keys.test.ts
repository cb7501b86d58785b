import { describe, expect, it } from "vitest";
import { lockKeys } from "../../src/instances/keys.ts";

describe("lockKeys", () => {
  it("puts the prefix, then the kind, then the name", () => {
    expect(lockKeys("p:", "orders/42")).toEqual({
      lock: "p:lock:orders/42",
      fence: "p:fence:orders/42",
      queue: "p:queue:orders/42",
      channel: "p:released:orders/42",
    });
  });

  it("no key or channel of one name equals one of another kind, whatever the names", () => {
    const names = ["", "a", "lock:a", "fence:a", "queue:a", "released:a", "a:lock", "lock:", "fence:", "lock:fence:a"];
    const all = names.flatMap((n) => Object.values(lockKeys("x:", n)));
    expect(new Set(all).size).toBe(all.length);
  });
});
