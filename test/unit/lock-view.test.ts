import { describe, expect, it } from "vitest";
import { judgeLockView, type LockRead } from "../../src/redlock/lock-view.ts";

const A = { owner: "worker a", sinceMs: 1_000 };
const B = { owner: "worker b", sinceMs: 2_000 };
const held = (ttlMs: number, more: Partial<LockRead> = {}): LockRead => ({
  ttlMs,
  holder: A,
  fence: 10n,
  tickets: 0,
  ...more,
});
const free = (more: Partial<LockRead> = {}): LockRead => ({
  ttlMs: -2,
  holder: undefined,
  fence: 10n,
  tickets: 0,
  ...more,
});

describe("judgeLockView: a lock as a majority of instances sees it", () => {
  it("held everywhere: the holder, the highest counter, and the TTL a majority still holds it for", () => {
    const view = judgeLockView([held(3000, { fence: 11n }), held(2900), held(1000, { fence: 9n })], 2);
    expect(view).toEqual({
      kind: "held",
      answered: 3,
      agreeing: 3,
      holder: A,
      fencingToken: 11n,
      remainingMs: 2900,
      tickets: 0,
    });
  });

  it("one instance silent: the two that answer still make the view", () => {
    expect(judgeLockView([held(3000), undefined, held(2000)], 2)).toMatchObject({
      kind: "held",
      answered: 2,
      agreeing: 2,
      remainingMs: 2000,
    });
    expect(judgeLockView([undefined, free(), free()], 2)).toEqual({
      kind: "free",
      answered: 2,
      agreeing: 2,
      tickets: 0,
    });
  });

  it("fewer than a majority answering is unavailable, whatever they say", () => {
    expect(judgeLockView([held(3000), undefined, undefined], 2)).toEqual({ kind: "unavailable", answered: 1 });
    expect(judgeLockView([undefined, undefined, undefined, free(), free()], 3)).toEqual({
      kind: "unavailable",
      answered: 2,
    });
  });

  it("a majority answering but agreeing on nothing is a split, not a guess", () => {
    expect(judgeLockView([held(3000), free(), undefined], 2)).toEqual({
      kind: "split",
      answered: 2,
      holding: 1,
      free: 1,
    });
  });

  it("a key left on a minority (a grant rolled back there late) does not make the lock held", () => {
    expect(judgeLockView([held(3000), free(), free()], 2)).toMatchObject({ kind: "free", agreeing: 2 });
  });

  it("the holder most holding instances recorded wins; a key without one (adopted) counts as held but names nobody", () => {
    const view = judgeLockView([held(3000), held(3000), held(3000, { holder: undefined, fence: 99_999n })], 2);
    expect(view).toMatchObject({ kind: "held", agreeing: 3, holder: A, fencingToken: 10n });
    expect(
      judgeLockView([held(3000, { holder: undefined }), held(3000, { holder: undefined, fence: 12n }), free()], 2),
    ).toMatchObject({ kind: "held", holder: undefined, fencingToken: 12n });
  });

  it("two holders recorded as often: the newer grant is named, with its own counter", () => {
    const view = judgeLockView([held(3000, { fence: 7n }), held(3000, { holder: B, fence: 8n }), undefined], 2);
    expect(view).toMatchObject({ kind: "held", holder: B, fencingToken: 8n });
  });

  it("keys without expiry on a majority: the TTL left is unbounded; counters may be missing", () => {
    expect(
      judgeLockView(
        [held(-1, { fence: undefined }), held(-1, { fence: undefined }), held(500, { fence: undefined })],
        2,
      ),
    ).toMatchObject({ kind: "held", remainingMs: Number.POSITIVE_INFINITY, fencingToken: undefined });
  });

  it("waiting tickets: the most that at least a majority of the answers report", () => {
    expect(judgeLockView([held(1, { tickets: 3 }), held(1, { tickets: 1 }), held(1, { tickets: 0 })], 2)).toMatchObject(
      {
        tickets: 1,
      },
    );
    expect(judgeLockView([free({ tickets: 2 }), free({ tickets: 2 }), undefined], 2)).toMatchObject({ tickets: 2 });
  });
});
