import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { LeaseLostError } from "../../src/engine/lease-session.ts";
import { LeaseSessions } from "../../src/engine/lease-sessions.ts";
import type { Lease } from "../../src/engine/lease.ts";
import { LockEngine } from "../../src/engine/lock-engine.ts";
import { engineTestOptions } from "./support/engine-options.ts";
import { fakeInstances } from "./support/fake-instance.ts";
import { FakeTime } from "./support/fake-time.ts";
import { ManualClock } from "./support/manual-clock.ts";
import { ScriptedRandomness } from "./support/scripted-randomness.ts";

const TTL = 3000;

async function setup() {
  const clock = new ManualClock({ monotonicMs: 10_000 });
  const time = new FakeTime(clock);
  const fakes = fakeInstances(3, clock, { fenceStart: 1n });
  const engine = new LockEngine(fakes, engineTestOptions("rel:"), { clock, randomness: new ScriptedRandomness("rel") });
  const result = await time.settle(engine.acquire("h", TTL, 0));
  if (!result.acquired) throw new Error("setup: not acquired");
  return { clock, time, engine, lease: result.lease as Lease, sessions: new LeaseSessions(engine, 10) };
}

beforeEach(() => FakeTime.install());
afterEach(() => vi.useRealTimers());

/**
 * A Release through this sidecar while streams keep the lease, before any
 * renewal was answered (Hold's first renewal waits for its due time): the
 * release takes the lease out of the registry, so the session must already
 * know the end it told, or no keeper would ever hear of the release.
 */
describe("a Release while a granted lease's first renewal is not yet due", () => {
  for (const released of [true, false]) {
    it(`(Release answered ${released}) ends a Hold-like keeper or tells it the loss, and tells a keeper without 'released' by the end told`, async () => {
      const { clock, time, engine, lease, sessions } = await setup();
      const t0 = clock.monotonicMs();
      let holdReleased = 0;
      const holdLost: LeaseLostError[] = [];
      // Like a Hold stream: on `released` it ends, leaving the session.
      const hold = sessions.keep(
        "h",
        lease.id,
        TTL,
        {
          renewed: () => undefined,
          lost: (l) => holdLost.push(l),
          released: () => {
            holdReleased++;
            void hold.close("run-out");
          },
        },
        true,
      );
      // A KeepAliveMany item: no `released` event.
      const itemLost: LeaseLostError[] = [];
      sessions.keep("h", lease.id, TTL, { renewed: () => undefined, lost: (l) => itemLost.push(l) }, true);
      await time.elapse(100);
      // Gone from the instances first, for a Release that finds it not held.
      if (!released) await time.settle(engine.release("h", lease.id));
      expect(await time.settle(engine.release("h", lease.id))).toBe(released);
      sessions.releasedByOwner("h", lease.id, released);
      await time.elapse(TTL);
      expect(holdReleased + holdLost.length).toBe(1);
      expect(holdReleased).toBe(released ? 1 : 0);
      expect(itemLost).toHaveLength(1);
      expect(String(itemLost[0])).toMatch(/released by its owner/);
      // Never later than the end the grant told.
      expect(clock.monotonicMs() - t0).toBeLessThanOrEqual(TTL + 100);
    });
  }
});
