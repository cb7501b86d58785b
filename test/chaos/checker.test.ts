import { describe, expect, it } from "vitest";
import {
  checkExclusion,
  checkFencing,
  checkHistory,
  checkLeftovers,
  checkLiveness,
  checkResource,
  classifyProbe,
  clientInterval,
  faultEffects,
  type CheckOptions,
} from "./checker.ts";
import {
  emptyHistory,
  type FaultRecord,
  type FrozenOwnerRecord,
  type GrantRecord,
  type History,
  type ProbeRecord,
} from "./history.ts";
import { ProtectedResource } from "./protected-resource.ts";
import { checkToldEnd } from "./told-end-check.ts";

/** Hand-made histories: three instances, two sidecars, times in ms from 0. */
function history(parts: Partial<History> = {}): History {
  return { ...emptyHistory(0, 3, 2), ...parts };
}

let nextId = 1;
function grant(
  fields: Partial<GrantRecord> & Pick<GrantRecord, "receivedAt" | "expiresAt" | "fencingToken">,
): GrantRecord {
  return {
    id: nextId++,
    name: "a",
    client: "s0c0",
    sidecar: 0,
    requestedAt: fields.receivedAt - 5,
    renewals: [],
    ...fields,
  };
}

const options: CheckOptions = {
  overlapToleranceMs: 1,
  maxTtlMs: 2000,
  instanceTimeoutMs: 100,
  settleMs: 500,
  quarantineMs: 2000,
  healthyBoundMs: 1000,
  outageBoundMs: 500,
  toldEndToleranceMs: 2,
};

const invariants = (h: History) => checkHistory(h, options).map((v) => v.invariant);

describe("client intervals", () => {
  it("run from the grant's arrival to the earlier of stop and expiry", () => {
    expect(clientInterval(grant({ receivedAt: 10, expiresAt: 300, fencingToken: 1n }))).toEqual({
      start: 10,
      end: 300,
    });
    expect(clientInterval(grant({ receivedAt: 10, expiresAt: 300, fencingToken: 1n, stoppedAt: 120 }))).toEqual({
      start: 10,
      end: 120,
    });
  });

  it("grow with renewals that arrive while the lease is still valid, and only those", () => {
    const renewals = [
      { receivedAt: 100, expiresAt: 400 },
      { receivedAt: 350, expiresAt: 700 },
      // Arrives after 700: the client had already given the lease up.
      { receivedAt: 720, expiresAt: 1000 },
    ];
    expect(clientInterval(grant({ receivedAt: 10, expiresAt: 300, fencingToken: 1n, renewals }))).toEqual({
      start: 10,
      end: 700,
    });
    // A renewal arriving after the client stopped does not count either.
    expect(
      clientInterval(grant({ receivedAt: 10, expiresAt: 300, fencingToken: 1n, renewals, stoppedAt: 200 })),
    ).toEqual({ start: 10, end: 200 });
  });

  it("are empty when the grant arrived after its expiry (a paused sidecar answering late)", () => {
    const late = clientInterval(grant({ receivedAt: 900, expiresAt: 400, fencingToken: 1n }));
    expect(late.end).toBeLessThanOrEqual(late.start);
  });
});

describe("(a) exclusion", () => {
  it("accepts leases that follow one another", () => {
    const h = history({
      grants: [
        grant({ receivedAt: 0, expiresAt: 300, fencingToken: 1n, stoppedAt: 100 }),
        grant({ receivedAt: 101, expiresAt: 400, fencingToken: 2n }),
        grant({ receivedAt: 450, expiresAt: 700, fencingToken: 3n, name: "b" }),
        grant({ receivedAt: 460, expiresAt: 700, fencingToken: 3n, name: "c" }),
      ],
    });
    expect(invariants(h)).toEqual([]);
  });

  it("reports two holders at once", () => {
    const h = history({
      grants: [
        grant({ receivedAt: 0, expiresAt: 300, fencingToken: 1n }),
        grant({ receivedAt: 200, expiresAt: 500, fencingToken: 2n, client: "s1c0", sidecar: 1 }),
      ],
    });
    const violations = checkExclusion(h, options);
    expect(violations).toHaveLength(1);
    expect(violations[0]!.message).toMatch(/overlap 100\.0 ms/);
  });

  it("reports an overlap that only a renewal created", () => {
    const first = grant({
      receivedAt: 0,
      expiresAt: 300,
      fencingToken: 1n,
      renewals: [{ receivedAt: 250, expiresAt: 600 }],
    });
    const second = grant({ receivedAt: 400, expiresAt: 700, fencingToken: 2n });
    expect(checkExclusion(history({ grants: [first, second] }), options)).toHaveLength(1);
    // The same renewal arriving after expiry creates nothing.
    const late = { ...first, renewals: [{ receivedAt: 310, expiresAt: 600 }] };
    expect(checkExclusion(history({ grants: [late, second] }), options)).toEqual([]);
  });

  it("ignores empty intervals and sub-tolerance rounding", () => {
    const h = history({
      grants: [
        grant({ receivedAt: 0, expiresAt: 300, fencingToken: 1n }),
        grant({ receivedAt: 200, expiresAt: 150, fencingToken: 2n }),
        grant({ receivedAt: 299.5, expiresAt: 600, fencingToken: 3n }),
      ],
    });
    expect(invariants(h)).toEqual([]);
  });

  it("reports an overlap hidden behind a long lease", () => {
    const h = history({
      grants: [
        grant({ receivedAt: 0, expiresAt: 1000, fencingToken: 1n }),
        grant({ receivedAt: 1100, expiresAt: 1200, fencingToken: 3n }),
        grant({ receivedAt: 100, expiresAt: 200, fencingToken: 2n }),
        grant({ receivedAt: 500, expiresAt: 600, fencingToken: 4n }),
      ],
    });
    expect(checkExclusion(h, options)).toHaveLength(2);
  });
});

describe("(b) fencing tokens", () => {
  it("reports a token handed out twice", () => {
    const h = history({
      grants: [
        grant({ receivedAt: 0, expiresAt: 100, fencingToken: 7n }),
        grant({ receivedAt: 200, expiresAt: 300, fencingToken: 7n }),
      ],
    });
    expect(checkFencing(h).map((v) => v.message)).toEqual([expect.stringMatching(/token 7 handed out twice/)]);
  });

  it("reports a later grant with a lower token", () => {
    const h = history({
      grants: [
        grant({ receivedAt: 0, expiresAt: 100, fencingToken: 9n }),
        grant({ receivedAt: 200, expiresAt: 300, fencingToken: 5n }),
      ],
    });
    expect(checkFencing(h)).toHaveLength(1);
  });

  it("orders grants by the request sent after the other's grant arrived, also for empty intervals", () => {
    const early = grant({ receivedAt: 500, expiresAt: 400, fencingToken: 9n }); // arrived late: empty interval
    const after = grant({ receivedAt: 700, expiresAt: 900, fencingToken: 5n, requestedAt: 600 });
    expect(checkFencing(history({ grants: [early, after] }))).toHaveLength(1);
    // Sent before the other's grant arrived, the order is unknown: no verdict.
    const racing = { ...after, requestedAt: 450 };
    expect(checkFencing(history({ grants: [early, racing] }))).toEqual([]);
  });

  it("leaves overlapping grants to (a)", () => {
    // The second was requested (waiting) before the first was granted.
    const h = history({
      grants: [
        grant({ receivedAt: 0, expiresAt: 300, fencingToken: 9n }),
        grant({ receivedAt: 100, expiresAt: 400, fencingToken: 5n, requestedAt: -50 }),
      ],
    });
    expect(checkFencing(h)).toEqual([]);
    expect(checkExclusion(h, options)).toHaveLength(1);
  });
});

describe("(c) the protected resource", () => {
  // A: token 1, granted first; B: token 2, granted while A still believes it holds the lock.
  function overlappingWriters(fenceReads: boolean): ProtectedResource {
    let t = 0;
    const resource = new ProtectedResource({ fenceReads, now: () => t++ });
    const a = resource.read("x", 1, 1n)!;
    const b = resource.read("x", 2, 2n);
    resource.write("x", 1, 1n, a);
    if (b !== undefined) resource.write("x", 2, 2n, b);
    return resource;
  }

  it("reports an acknowledged write lost to an overlapping holder when only writes are fenced", () => {
    const resource = overlappingWriters(false);
    const violations = checkResource(history({ resourceFencesReads: false, resourceOps: resource.ops }));
    expect(violations.map((v) => v.message)).toEqual([
      expect.stringMatching(/acknowledged write lost: grant #1 .* overwritten by grant #2 .* from version 0 of 1/),
    ]);
  });

  it("loses nothing when reads are fenced too: the former holder's write is rejected", () => {
    const resource = overlappingWriters(true);
    expect(resource.ops.map((op) => `${op.kind}:${op.grantId}:${op.accepted}`)).toEqual([
      "read:1:true",
      "read:2:true",
      "write:1:false",
      "write:2:true",
    ]);
    expect(checkResource(history({ resourceOps: resource.ops }))).toEqual([]);
  });

  it("reports a lost write when two holders share a token", () => {
    let t = 0;
    const resource = new ProtectedResource({ now: () => t++ });
    const a = resource.read("x", 1, 4n)!;
    const b = resource.read("x", 2, 4n)!;
    resource.write("x", 1, 4n, a);
    resource.write("x", 2, 4n, b);
    expect(checkResource(history({ resourceOps: resource.ops }))).toHaveLength(1);
  });

  it("reports a resource that accepted a stale token", () => {
    const resourceOps = [
      {
        name: "x",
        grantId: 2,
        fencingToken: 5n,
        at: 1,
        kind: "write" as const,
        zombie: false,
        accepted: true,
        version: 0,
      },
      {
        name: "x",
        grantId: 1,
        fencingToken: 3n,
        at: 2,
        kind: "write" as const,
        zombie: true,
        accepted: true,
        version: 1,
      },
    ];
    expect(checkResource(history({ resourceOps })).map((v) => v.message)).toEqual([
      expect.stringMatching(/accepted a write with token 3 .*after its lease ran out.*highest seen 5/),
    ]);
  });

  it("accepts a zombie write that the fence rejected", () => {
    let t = 0;
    const resource = new ProtectedResource({ now: () => t++ });
    const v = resource.read("x", 1, 1n)!;
    resource.write("x", 1, 1n, v);
    const w = resource.read("x", 2, 2n)!;
    expect(resource.write("x", 1, 1n, v + 1, true)).toBe(false);
    expect(resource.write("x", 2, 2n, w)).toBe(true);
    expect(checkResource(history({ resourceOps: resource.ops }))).toEqual([]);
  });
});

describe("(d) leftover keys", () => {
  const prefix = "chaos:";
  it("reports lock keys past the max TTL and keys without expiry; fencing counters may stay", () => {
    const keys = [
      { instance: 0, key: "chaos:fence:a", pttlMs: 59_000 },
      { instance: 0, key: "chaos:lock:a", pttlMs: 300 },
      { instance: 1, key: "chaos:queue:a", pttlMs: -1 },
    ];
    const violations = checkLeftovers({ prefix, quietForMs: 2500, keys }, options);
    expect(violations.map((v) => v.message)).toEqual([
      expect.stringMatching(/lock key "chaos:lock:a" remains/),
      expect.stringMatching(/"chaos:queue:a" has no expiry/),
    ]);
  });

  it("tolerates a lock key while a lease could still run", () => {
    expect(
      checkLeftovers({ prefix, quietForMs: 500, keys: [{ instance: 0, key: "chaos:lock:a", pttlMs: 300 }] }, options),
    ).toEqual([]);
  });
});

describe("(e) liveness", () => {
  const fault = (fields: Partial<FaultRecord> & Pick<FaultRecord, "kind" | "startAt" | "endAt">): FaultRecord => ({
    id: 1,
    instances: [],
    sidecars: [],
    links: [],
    ...fields,
  });
  const probe = (fields: Partial<ProbeRecord> & Pick<ProbeRecord, "sentAt" | "endedAt" | "outcome">): ProbeRecord => ({
    id: 1,
    sidecar: 0,
    name: "probe",
    waitMs: 0,
    ...fields,
  });
  const pauseTwo = fault({ kind: "instance-pause-majority", instances: [0, 1], startAt: 1000, endAt: 3000 });

  it("expects grants while a majority is reachable", () => {
    const ok = probe({ sentAt: 100, endedAt: 110, outcome: "acquired", waitMs: 1000 });
    const unavailable = probe({ sentAt: 100, endedAt: 110, outcome: "error", code: 14 });
    const slow = probe({ sentAt: 100, endedAt: 2200, outcome: "acquired", waitMs: 1000 });
    expect(checkLiveness(history({ probes: [ok] }), options)).toEqual([]);
    expect(checkLiveness(history({ probes: [unavailable, slow] }), options)).toHaveLength(2);
  });

  it("expects a fast UNAVAILABLE while a majority is unreachable, never acquired=false", () => {
    const fast = probe({ sentAt: 1500, endedAt: 1620, outcome: "error", code: 14 });
    const contended = probe({ sentAt: 1500, endedAt: 1620, outcome: "not-acquired" });
    const slow = probe({ sentAt: 1500, endedAt: 2100, outcome: "error", code: 14 });
    expect(checkLiveness(history({ faults: [pauseTwo], probes: [fast] }), options)).toEqual([]);
    expect(checkLiveness(history({ faults: [pauseTwo], probes: [contended, slow] }), options)).toHaveLength(2);
  });

  it("judges nothing but hangs around fault edges, and nothing at all while the sidecar is stopped", () => {
    const edge = probe({ sentAt: 2900, endedAt: 3100, outcome: "error", code: 14 });
    const hang = probe({ sentAt: 2900, endedAt: 7000, outcome: "error", code: 4 });
    expect(checkLiveness(history({ faults: [pauseTwo], probes: [edge] }), options)).toEqual([]);
    expect(checkLiveness(history({ faults: [pauseTwo], probes: [hang] }), options)).toHaveLength(1);
    const stopped = fault({ kind: "sidecar-pause", sidecars: [0], startAt: 1000, endAt: 3000 });
    expect(checkLiveness(history({ faults: [stopped], probes: [hang] }), options)).toEqual([]);
  });

  it("judges nothing while the machine was starved (the harness's event loop ran late)", () => {
    const unavailable = probe({ sentAt: 100, endedAt: 110, outcome: "error", code: 14 });
    expect(checkLiveness(history({ probes: [unavailable], stalls: [{ start: 105, end: 300 }] }), options)).toEqual([]);
    expect(checkLiveness(history({ probes: [unavailable], stalls: [{ start: 200, end: 300 }] }), options)).toHaveLength(
      1,
    );
  });

  it("reports a sidecar that exited on its own, and judges its probes no further", () => {
    const crashes = [{ sidecar: 0, at: 1000, how: "exit code 1", output: "TypeError: boom\n    at somewhere" }];
    const afterwards = probe({ sentAt: 1500, endedAt: 1501, outcome: "error", code: 14, waitMs: 1000 });
    const violations = checkLiveness(history({ crashes, probes: [afterwards] }), options);
    expect(violations.map((v) => v.message)).toEqual([
      expect.stringMatching(/sidecar 0 exited at t\+1000\.0ms \(exit code 1\).*TypeError: boom/s),
    ]);
  });

  it("treats a partitioned sidecar as an outage for its probes only", () => {
    const partition = fault({
      kind: "sidecar-partition",
      sidecars: [1],
      links: [0, 1, 2].map((instance) => ({ sidecar: 1, instance })),
      startAt: 1000,
      endAt: 3000,
    });
    const effects = faultEffects(partition, options);
    expect(classifyProbe(probe({ sidecar: 1, sentAt: 1500, endedAt: 1600, outcome: "error" }), effects, 3)).toBe(
      "outage",
    );
    expect(classifyProbe(probe({ sidecar: 0, sentAt: 1500, endedAt: 1600, outcome: "error" }), effects, 3)).toBe(
      "healthy",
    );
  });

  it("keeps a restarted instance unknown through the quarantine, a slow link by its delay", () => {
    const restart = fault({
      kind: "instance-kill-restart",
      instances: [0],
      startAt: 1000,
      endAt: 1010,
      restartedAt: 1100,
    });
    const minorityDown = fault({ kind: "instance-pause-minority", instances: [1], startAt: 1000, endAt: 9000 });
    const effects = [...faultEffects(restart, options), ...faultEffects(minorityDown, options)];
    // 1100 + settle 500 + quarantine 2000 = 3600.
    expect(classifyProbe(probe({ sentAt: 3500, endedAt: 3550, outcome: "error" }), effects, 3)).toBe("unclear");
    expect(classifyProbe(probe({ sentAt: 3700, endedAt: 3750, outcome: "error" }), effects, 3)).toBe("healthy");
    const slow = (delayMs: number) =>
      faultEffects(
        fault({
          kind: "link-delay",
          links: [
            { sidecar: 0, instance: 0 },
            { sidecar: 0, instance: 1 },
          ],
          delayMs,
          startAt: 1000,
          endAt: 3000,
        }),
        options,
      );
    expect(classifyProbe(probe({ sentAt: 1500, endedAt: 1600, outcome: "error" }), slow(200), 3)).toBe("outage");
    expect(classifyProbe(probe({ sentAt: 1500, endedAt: 1600, outcome: "error" }), slow(60), 3)).toBe("unclear");
    expect(classifyProbe(probe({ sentAt: 1500, endedAt: 1600, outcome: "error" }), slow(10), 3)).toBe("healthy");
  });

  it("keeps each instance of a rolling restart unknown through its own quarantine", () => {
    const restarts = [
      { instance: 2, beganAt: 1000, killedAt: 1010, restartedAt: 1100 },
      { instance: 0, beganAt: 2000, killedAt: 2010, restartedAt: 2100 },
      { instance: 1, beganAt: 3000, killedAt: 3010, restartedAt: 3100 },
    ];
    const effects = faultEffects(
      fault({ kind: "rolling-restart", instances: [2, 0, 1], restarts, startAt: 1010, endAt: 4000 }),
      options,
    );
    // Instance 2 is unknown until 1100 + 500 + 2000 = 3600, instance 1 until 5600.
    expect(classifyProbe(probe({ sentAt: 500, endedAt: 600, outcome: "error" }), effects, 3)).toBe("healthy");
    expect(classifyProbe(probe({ sentAt: 1500, endedAt: 1600, outcome: "error" }), effects, 3)).toBe("healthy");
    expect(classifyProbe(probe({ sentAt: 2500, endedAt: 2600, outcome: "error" }), effects, 3)).toBe("unclear");
    expect(classifyProbe(probe({ sentAt: 5700, endedAt: 5800, outcome: "error" }), effects, 3)).toBe("healthy");
  });
});

describe("(f) a frozen owner's told end", () => {
  // The owner acquires at 0 (told 2000), reads a renewal at 600 (told 2600),
  // freezes at 700 and thaws at 2700. A renewal sent at 900, before the
  // sidecar dropped its connection, waited in its socket: read at 2700, it
  // tells 3200. Then its stream ends UNAVAILABLE: the connection was dropped.
  const owner = (): GrantRecord =>
    grant({
      client: "s0f0",
      receivedAt: 0,
      expiresAt: 2000,
      fencingToken: 1n,
      renewals: [
        { receivedAt: 600, expiresAt: 2600 },
        { receivedAt: 2700, expiresAt: 3200 },
      ],
    });
  const episode = (own: GrantRecord, fields: Partial<FrozenOwnerRecord> = {}): FrozenOwnerRecord => ({
    grantId: own.id,
    ttlMs: 2000,
    frozenAt: 700,
    thawedAt: 2700,
    readAfterThaw: 1,
    toldUntil: 3200,
    endCode: 14,
    endedAt: 2702,
    ...fields,
  });
  /** Its connection survived the freeze: at thaw it cancelled its stream itself, which releases the lease. */
  const survived = (own: GrantRecord, askedAt: number): FrozenOwnerRecord => {
    const record = episode(own, { askedAt });
    delete record.endCode;
    delete record.endedAt;
    return record;
  };
  const next = (receivedAt: number): GrantRecord =>
    grant({ client: "s1c0", sidecar: 1, receivedAt, requestedAt: 500, expiresAt: receivedAt + 1000, fencingToken: 2n });

  it("accepts the next holder once the told end has passed", () => {
    const own = owner();
    const h = history({
      grants: [grant({ receivedAt: -900, expiresAt: -100, fencingToken: 0n, client: "s2c1" }), own, next(3230)],
      frozenOwners: [episode(own)],
    });
    expect(checkHistory(h, options)).toEqual([]);
    // Within the clock-reading tolerance (2 ms) of the told end: not judged early.
    expect(checkToldEnd(history({ grants: [own, next(3199)], frozenOwners: [episode(own)] }), options)).toEqual([]);
  });

  it("reports a grant made once the sidecar dropped the frozen owner's connection (the lease released)", () => {
    const own = owner();
    const h = history({ grants: [own, next(1300)], frozenOwners: [episode(own)] });
    const violations = checkHistory(h, options);
    expect(violations.map((v) => v.invariant)).toContain("told-end");
    expect(violations.find((v) => v.invariant === "told-end")!.message).toMatch(
      /grant #\d+ \(client s0f0, .*told it held the lock until t\+3200\.0ms \(frozen t\+700\.0ms\.\.t\+2700\.0ms, its stream ended with status 14 .*grant #\d+ \(client s1c0, .*had it 1900\.0 ms before/,
    );
  });

  it("reports a grant before the end read at thaw, which the exclusion check does not count", () => {
    // At 2800 the owner's previous end (2600) has passed, but it has read 3200 since.
    const own = owner();
    const h = history({ grants: [own, next(2800)], frozenOwners: [episode(own)] });
    expect(checkExclusion(h, options)).toEqual([]);
    expect(checkToldEnd(h, options).map((v) => v.message)).toEqual([expect.stringMatching(/had it 400\.0 ms before/)]);
    expect(checkToldEnd(history({ grants: [own, next(3197)], frozenOwners: [episode(own)] }), options)).toHaveLength(1);
  });

  it("holds the lock only until the owner gave the lease up itself", () => {
    const own = owner();
    const h = history({ grants: [own, next(2750)], frozenOwners: [survived(own, 2720)] });
    expect(checkToldEnd(h, options)).toEqual([]);
    const early = history({ grants: [own, next(2710)], frozenOwners: [survived(own, 2720)] });
    expect(checkToldEnd(early, options)).toHaveLength(1);
  });
});
