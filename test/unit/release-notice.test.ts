import { describe, expect, it } from "vitest";
import { formatNotice, parseNotice } from "../../src/instances/release-notice.ts";

describe("release notices", () => {
  it("carry the tag alone when nobody waits, and the next ticket when someone does", () => {
    expect(formatNotice("42", undefined)).toBe("42");
    expect(formatNotice("42", "000001700000000-abc")).toBe("42 000001700000000-abc");
  });

  it("parse back to what was formatted", () => {
    for (const [tag, next] of [
      ["42", undefined],
      ["rollback-1a2b3c4d", "000001700000000-abc"],
    ] as const) {
      expect(parseNotice(formatNotice(tag, next))).toEqual({ tag, next });
    }
  });
});
