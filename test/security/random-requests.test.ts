import { randomBytes } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import fc from "fast-check";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AcquireResponseSchema } from "../../gen/lock/v1/lock_pb.ts";
import { HealthClient } from "../../src/client/health-client.ts";
import { RawLockClient, wire, type RawAnswer, type Rpc } from "../support/raw-grpc.ts";
import { RedisServers } from "../support/redis-servers.ts";
import { eventually, runSidecar, testOptions, type Running } from "../support/sidecar-fixture.ts";

/** The statuses the README documents for LockService; -1: a KeepAlive still renewing when the test cancelled it. */
const DOCUMENTED = new Set<number>([
  status.OK,
  status.INVALID_ARGUMENT,
  status.FAILED_PRECONDITION,
  status.UNAVAILABLE,
  status.RESOURCE_EXHAUSTED,
  status.DEADLINE_EXCEEDED,
  status.CANCELLED,
  -1,
]);
const MAX_TTL_MS = 2000;
const MAX_WAIT_MS = 150;
const TICKET_TTL_MS = 1000;
/** Time budget of the property run itself (the suite adds start-up and the wait for TTLs). */
const RUN_BUDGET_MS = 20_000;

type LeaseIdChoice =
  | { kind: "absent" | "empty" | "held" | "altered-token" | "forged-secret" }
  | { kind: "text"; text: string }
  | { kind: "bytes"; bytes: Uint8Array };

interface RandomRequest {
  rpc: Rpc;
  /** The whole message as random bytes, instead of the fields below. */
  garbage: Uint8Array | undefined;
  name: Buffer | undefined;
  ttl: { seconds: bigint; nanos: number } | undefined;
  wait: { seconds: bigint; nanos: number } | undefined;
  owner: Buffer | undefined;
  leaseId: LeaseIdChoice;
  pick: number;
  expireOnClose: boolean;
  unknown: Uint8Array | undefined;
}

const utf8 = (text: string): Buffer => Buffer.from(text, "utf8");

const nameArb: fc.Arbitrary<Buffer> = fc.oneof(
  // A few shared names, so requests contend, wait and meet each other's leases.
  { weight: 6, arbitrary: fc.constantFrom("p-0", "p-1", "p-2", "p-3", "p-4").map(utf8) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 24 }).map(utf8) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.integer({ min: 500, max: 530 }).map((n) => utf8("x".repeat(n))) },
);

const durationArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .integer({ min: 0, max: MAX_TTL_MS + 500 })
      .map((ms) => ({ seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 })),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      seconds: fc.bigInt(-(1n << 63n), (1n << 63n) - 1n),
      nanos: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      seconds: fc.bigInt(-3n, 3n),
      nanos: fc.integer({ min: -1_000_000_001, max: 1_000_000_001 }),
    }),
  },
);

const leaseIdArb: fc.Arbitrary<LeaseIdChoice> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ kind: "held" as const }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      { kind: "absent" as const },
      { kind: "empty" as const },
      { kind: "altered-token" as const },
      { kind: "forged-secret" as const },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.string({ unit: "binary", maxLength: 300 }).map((text) => ({ kind: "text" as const, text })),
  },
  {
    weight: 1,
    arbitrary: fc.stringMatching(/^[A-Za-z0-9_.-]{0,140}$/).map((text) => ({ kind: "text" as const, text })),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ kind: "bytes" as const, bytes })) },
);

/** `arbitrary` in one draw out of `oneIn`, else undefined. */
const rarely = <T>(arbitrary: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });

const requestArb: fc.Arbitrary<RandomRequest> = fc.record({
  rpc: fc.constantFrom<Rpc>("Acquire", "Acquire", "Extend", "Release", "KeepAlive"),
  garbage: rarely(fc.uint8Array({ maxLength: 48 }), 12),
  name: fc.option(nameArb, { nil: undefined, freq: 15 }),
  ttl: fc.option(durationArb, { nil: undefined, freq: 4 }),
  wait: fc.option(
    durationArb.map((d) =>
      d.seconds === 0n && d.nanos > MAX_WAIT_MS * 1_000_000 ? { ...d, nanos: d.nanos % (MAX_WAIT_MS * 1_000_000) } : d,
    ),
    {
      nil: undefined,
      freq: 2,
    },
  ),
  owner: rarely(
    fc.oneof(
      fc.string({ unit: "binary", maxLength: 30 }).map(utf8),
      fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b)),
    ),
    5,
  ),
  leaseId: leaseIdArb,
  pick: fc.nat(),
  expireOnClose: fc.boolean(),
  unknown: rarely(fc.uint8Array({ maxLength: 16 }), 8),
});

/**
 * Thousands of random requests, valid and not, across all four RPCs at a
 * live sidecar over three real redis-server processes: every answer is a
 * documented status, nothing crashes, the sidecar still answers health
 * checks, and once what was acquired is released and TTLs have passed no
 * lock key is left on any instance (fencing counters may stay).
 */
describe("random requests (property-based)", () => {
  let servers: RedisServers;
  let running: Running;
  let raw: RawLockClient;
  let prefix: string;
  const errorLines: string[] = [];

  beforeAll(async () => {
    servers = await RedisServers.start(3);
    const options = testOptions({
      instances: servers.urls,
      maxTtlMs: MAX_TTL_MS,
      defaultTtlMs: 1000,
      maxWaitMs: MAX_WAIT_MS,
      waitTicketTtlMs: TICKET_TTL_MS,
      maxStreams: 16,
      fenceRetentionMs: 60_000,
    });
    prefix = options.keyPrefix;
    const logger = pino({ level: "error" }, { write: (line: string) => void errorLines.push(line) });
    running = await runSidecar(options, { logger });
    raw = new RawLockClient(running.sidecar.address);
  });

  afterAll(async () => {
    raw?.close();
    await running?.stop();
    await servers?.stopAll();
  });

  it("answers every request with a documented status, keeps serving and leaks no lock keys", async () => {
    /** Leases granted so far: the pool lease ids are drawn from, and what is released at the end. */
    const held: { name: string; leaseId: string }[] = [];
    const seen = new Map<number, number>();
    let sent = 0;

    const leaseIdOf = (choice: LeaseIdChoice, pick: number): Buffer | undefined => {
      const lease = held.length > 0 ? held[pick % held.length]! : undefined;
      const [secret, token] = lease
        ? (lease.leaseId.split(".") as [string, string])
        : [randomBytes(20).toString("base64url"), "1"];
      switch (choice.kind) {
        case "absent":
          return undefined;
        case "empty":
          return Buffer.alloc(0);
        case "held":
          return utf8(`${secret}.${token}`);
        case "altered-token":
          return utf8(`${secret}.${BigInt(token) + BigInt(pick % 7) + 1n}`);
        case "forged-secret":
          return utf8(`${randomBytes(20).toString("base64url")}.${token}`);
        case "text":
          return utf8(choice.text);
        case "bytes":
          return Buffer.from(choice.bytes);
      }
    };

    const encode = (r: RandomRequest): Buffer => {
      if (r.garbage) return Buffer.from(r.garbage);
      const parts: Buffer[] = [];
      // For leased calls, aim at the name of the lease drawn when the request carries none.
      const lease = held.length > 0 ? held[r.pick % held.length] : undefined;
      const name = r.name ?? (r.rpc !== "Acquire" && lease && r.pick % 3 !== 0 ? utf8(lease.name) : undefined);
      if (name) parts.push(wire.bytes(1, name));
      const ttlField = r.rpc === "Acquire" ? 2 : 3;
      if (r.rpc === "Acquire") {
        if (r.ttl) parts.push(wire.duration(2, r.ttl.seconds, r.ttl.nanos));
        if (r.wait) parts.push(wire.duration(3, r.wait.seconds, r.wait.nanos));
        if (r.owner) parts.push(wire.bytes(4, r.owner));
      } else {
        const leaseId = leaseIdOf(r.leaseId, r.pick);
        if (leaseId) parts.push(wire.bytes(2, leaseId));
        if (r.rpc !== "Release" && r.ttl) parts.push(wire.duration(ttlField, r.ttl.seconds, r.ttl.nanos));
        if (r.rpc === "KeepAlive" && r.expireOnClose) parts.push(wire.uint(4, 1));
      }
      if (r.unknown) parts.push(wire.bytes(1000 + (r.pick % 50), Buffer.from(r.unknown)));
      return Buffer.concat(parts);
    };

    const record = (r: RandomRequest, answer: RawAnswer): void => {
      sent++;
      seen.set(answer.code, (seen.get(answer.code) ?? 0) + 1);
      if (r.rpc === "Acquire" && answer.code === status.OK) {
        const response = fromBinary(AcquireResponseSchema, answer.messages[0]!);
        if (response.acquired && response.lease)
          held.push({ name: response.lease.name, leaseId: response.lease.leaseId });
      }
    };

    const startedAt = Date.now();
    await fc.assert(
      fc.asyncProperty(fc.array(requestArb, { minLength: 1, maxLength: 8 }), async (batch) => {
        const answers = await Promise.all(
          batch.map((r) => raw.call(r.rpc, encode(r), { deadlineMs: 2000, streamSettleMs: 25 })),
        );
        answers.forEach((answer, i) => record(batch[i]!, answer));
        for (const answer of answers) {
          if (!DOCUMENTED.has(answer.code)) throw new Error(`undocumented status ${answer.code}: ${answer.details}`);
        }
      }),
      { numRuns: 600, interruptAfterTimeLimit: RUN_BUDGET_MS, markInterruptAsFailure: false },
    );
    const elapsedMs = Date.now() - startedAt;

    // Enough traffic to mean something, and of every kind. 600 batches are about 2,700 requests;
    // on a machine loaded by other suites the time limit may cut the run short, hence the lower floor.
    console.log(
      `random requests: ${sent} in ${elapsedMs} ms, ${held.length} leases granted, statuses ${JSON.stringify(Object.fromEntries(seen))}`,
    );
    expect(sent).toBeGreaterThanOrEqual(500);
    expect(seen.get(status.OK) ?? 0).toBeGreaterThan(50);
    expect(seen.get(status.INVALID_ARGUMENT) ?? 0).toBeGreaterThan(50);
    expect(held.length).toBeGreaterThan(10);
    expect(elapsedMs).toBeLessThan(RUN_BUDGET_MS + 5000);
    expect(seen.has(status.INTERNAL)).toBe(false);
    expect(errorLines).toEqual([]);

    const health = new HealthClient(running.sidecar.address);
    try {
      expect(await health.check("", { deadline: Date.now() + 3000 })).toBe("SERVING");
    } finally {
      health.close();
    }

    await Promise.all(
      held.map((l) => running.client.release({ name: l.name, leaseId: l.leaseId }).catch(() => undefined)),
    );
    const redis = servers.urls.map((url) => new Redis(url, { maxRetriesPerRequest: 1 }).on("error", () => undefined));
    try {
      // Leases kept with expire_on_close, and waiting tickets, go at their TTLs.
      const leftover = async (): Promise<string[]> => {
        const keys = await Promise.all(redis.map((r) => scanAll(r, `${prefix}*`)));
        return keys.flat().filter((key) => !key.startsWith(`${prefix}fence:`));
      };
      await eventually(
        async () => (await leftover()).length === 0,
        MAX_TTL_MS + TICKET_TTL_MS + 3000,
        "lock keys to expire",
      ).catch(async (error: unknown) => {
        throw new Error(`${String(error)}; left: ${(await leftover()).slice(0, 10).join(", ")}`);
      });
      // The fencing counters are what remains, and they are there.
      expect((await Promise.all(redis.map((r) => scanAll(r, `${prefix}fence:*`)))).flat().length).toBeGreaterThan(0);
    } finally {
      redis.forEach((r) => r.disconnect());
    }
  }, 60_000);
});

async function scanAll(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  return keys;
}
