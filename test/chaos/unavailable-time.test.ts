import { describe, expect, it } from "vitest";
import { emptyHistory, type FaultRecord } from "./history.ts";
import { rollingRestartWindow, unavailableWithin, unionMs } from "./unavailable-time.ts";

describe("unionMs", () => {
  it("counts overlapping spans once and gaps not at all", () => {
    expect(unionMs([])).toBe(0);
    expect(
      unionMs([
        { start: 0, end: 10 },
        { start: 5, end: 20 },
        { start: 30, end: 40 },
        { start: 32, end: 35 },
      ]),
    ).toBe(30);
  });
});

describe("unavailableWithin", () => {
  const record: FaultRecord = {
    id: 1,
    kind: "rolling-restart",
    instances: [0, 1, 2],
    sidecars: [],
    links: [],
    startAt: 1010,
    endAt: 5000,
    restarts: [
      { instance: 0, beganAt: 1000, killedAt: 1010, restartedAt: 1100 },
      { instance: 1, beganAt: 2000, killedAt: 2010, restartedAt: 2100 },
      { instance: 2, beganAt: 3000, killedAt: 3010, restartedAt: 3100 },
    ],
  };

  it("spans the first kill to the fault's end, one gap after the last restart", () => {
    expect(rollingRestartWindow(record)).toEqual({ start: 1000, end: 5000 });
    expect(rollingRestartWindow({ ...record, restarts: [] })).toBeUndefined();
  });

  it("joins failing calls and probes that answered UNAVAILABLE, clipped to the window", () => {
    const history = emptyHistory(0, 3, 3);
    history.failedCalls.push(
      { call: "acquire", sidecar: 0, sentAt: 500, endedAt: 1500, code: 14 },
      { call: "extend", sidecar: 1, sentAt: 1400, endedAt: 1600, code: 14 },
      // Other codes and calls outside the window do not count.
      { call: "acquire", sidecar: 0, sentAt: 2000, endedAt: 2500, code: 4 },
      { call: "release", sidecar: 2, sentAt: 6000, endedAt: 6100, code: 14 },
    );
    history.probes.push(
      { id: 1, sidecar: 0, name: "probe-1", waitMs: 1000, sentAt: 4800, endedAt: 5200, outcome: "error", code: 14 },
      { id: 2, sidecar: 0, name: "probe-2", waitMs: 1000, sentAt: 3000, endedAt: 3100, outcome: "acquired" },
    );
    expect(unavailableWithin(history, rollingRestartWindow(record)!)).toEqual({
      window: { start: 1000, end: 5000 },
      ms: 600 + 200,
      calls: 3,
    });
  });
});
