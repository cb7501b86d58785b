import { describe, expect, it } from "vitest";
import { LockError } from "../../src/errors/lock-error.ts";
import { OverloadGuard, overloadCause, type OverloadCause } from "../../src/engine/overload-guard.ts";

describe("overloadCause", () => {
  it.each([
    // renewal lag, event-loop delay, threshold, cause
    [0, 0, 250, undefined],
    [250, 250, 250, undefined], // at the threshold: still taken
    [251, 0, 250, "renewal_lag"],
    [0, 251, 250, "event_loop_delay"],
    [900, 900, 250, "renewal_lag"], // renewal lag first: it is what loses leases
    [10_000, 10_000, 0, undefined], // 0 turns the check off
  ] as const)("lag %i ms, delay %i ms, threshold %i ms -> %s", (lagMs, delayMs, thresholdMs, cause) => {
    expect(overloadCause(lagMs, delayMs, thresholdMs)).toBe(cause);
  });
});

describe("OverloadGuard", () => {
  const signals = { lagMs: 0, delayMs: 0 };
  const refused: OverloadCause[] = [];
  const guard = new OverloadGuard({ renewalLagMs: () => signals.lagMs, eventLoopDelayMs: () => signals.delayMs }, 250, {
    overloadRefused: (cause) => refused.push(cause),
  });

  it("takes new work while both signals are under the threshold", () => {
    Object.assign(signals, { lagMs: 40, delayMs: 200 });
    expect(guard.refusal()).toBeUndefined();
  });

  it("refuses with RESOURCE_EXHAUSTED naming the cause, the reading and the setting, reads the signals on every call, and counts each refusal", () => {
    refused.length = 0;
    Object.assign(signals, { lagMs: 812, delayMs: 0 });
    const lag = guard.refusal();
    expect(lag).toBeInstanceOf(LockError);
    expect(lag).toMatchObject({
      code: "resource-exhausted",
      reason: "OVERLOADED",
      metadata: { setting: "LOCK_OVERLOAD_LAG", cause: "renewal_lag" },
    });
    expect(lag!.message).toMatch(/renewals of held leases are running 812 ms late, past LOCK_OVERLOAD_LAG \(250 ms\)/);

    Object.assign(signals, { lagMs: 0, delayMs: 300 });
    const delay = guard.refusal();
    expect(delay).toMatchObject({ metadata: { cause: "event_loop_delay" } });
    expect(delay!.message).toMatch(/the event loop was held up for 300 ms/);

    Object.assign(signals, { lagMs: 0, delayMs: 0 });
    expect(guard.refusal()).toBeUndefined();
    expect(refused).toEqual(["renewal_lag", "event_loop_delay"]);
  });

  it("with a threshold of 0 never refuses and never reads the signals", () => {
    let reads = 0;
    const off = new OverloadGuard({ renewalLagMs: () => ++reads * 1e6, eventLoopDelayMs: () => ++reads * 1e6 }, 0);
    expect(off.refusal()).toBeUndefined();
    expect(reads).toBe(0);
  });
});
