import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { fromBinary } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AcquireResponseSchema, ReleaseResponseSchema } from "../../gen/lock/v1/lock_pb.ts";
import { HealthClient } from "../../src/client/health-client.ts";
import { RawLockClient, wire, type Rpc } from "../support/raw-grpc.ts";
import { RedisServers } from "../support/redis-servers.ts";
import { eventually, ms, runSidecar, testOptions, type Running } from "../support/sidecar-fixture.ts";

const { INVALID_ARGUMENT: INVALID, FAILED_PRECONDITION: NOT_HELD, RESOURCE_EXHAUSTED: EXHAUSTED, OK } = status;
const MAX_STREAMS = 4;
/** A lease id of the right shape that no lease has. */
const UNKNOWN_LEASE = `${"A".repeat(27)}.1`;
const utf8 = (text: string): Buffer => Buffer.from(text, "utf8");
const bytes = (...values: number[]): Buffer => Buffer.from(values);

// Field numbers of lock.v1 (proto/lock/v1/lock.proto).
const NAME = 1;
const LEASE_ID = 2;
const OWNER = 4;
const ACQUIRE_TTL = 2;
const ACQUIRE_WAIT = 3;
const TTL = 3;

interface Case {
  what: string;
  rpc: Rpc;
  request: Buffer;
  code: number;
}

/** A well-formed request of `rpc` for `name`, with the given extra or replacing fields. */
function requestOf(
  rpc: Rpc,
  fields: { name?: Buffer | string | null; leaseId?: Buffer | string | null; ttl?: Buffer; extra?: Buffer[] } = {},
): Buffer {
  const parts: Buffer[] = [];
  if (fields.name !== null) parts.push(wire.bytes(NAME, fields.name ?? "hostile"));
  if (rpc !== "Acquire" && fields.leaseId !== null) parts.push(wire.bytes(LEASE_ID, fields.leaseId ?? UNKNOWN_LEASE));
  if (rpc === "Acquire" || rpc === "Extend" || rpc === "KeepAlive")
    parts.push(fields.ttl ?? wire.duration(rpc === "Acquire" ? ACQUIRE_TTL : TTL, 1));
  return Buffer.concat([...parts, ...(fields.extra ?? [])]);
}

/** What a call on an unknown lease answers when nothing else is wrong. */
const unknownLease: Record<Rpc, number> = { Acquire: OK, Extend: NOT_HELD, Release: OK, KeepAlive: NOT_HELD };
const ALL: Rpc[] = ["Acquire", "Extend", "Release", "KeepAlive"];
const LEASED: Rpc[] = ["Extend", "Release", "KeepAlive"];
const WITH_TTL: Rpc[] = ["Acquire", "Extend", "KeepAlive"];
const ttlField = (rpc: Rpc): number => (rpc === "Acquire" ? ACQUIRE_TTL : TTL);

const badNames: [string, Buffer | string | null][] = [
  ["no name", null],
  ["an empty name", ""],
  ["a name of 513 bytes", "n".repeat(513)],
  ["a name of 171 three-byte characters (513 bytes)", "€".repeat(171)],
  ["a name of 1 MiB", "n".repeat(1 << 20)],
  ["a NUL in the name", "a\u0000b"],
  ["a newline in the name", "line\nbreak"],
  ["an ANSI escape in the name", "\u001b[31mred"],
  ["DEL in the name", "a\u007f"],
  ["a C1 control in the name", "a\u0085b"],
  ["U+FFFD in the name", "a\ufffdb"],
  ["invalid UTF-8 in the name: 0xff", bytes(0x61, 0xff)],
  ["invalid UTF-8 in the name: overlong '/'", bytes(0xc0, 0xaf)],
  ["invalid UTF-8 in the name: an encoded surrogate", bytes(0xed, 0xa0, 0x80)],
  ["invalid UTF-8 in the name: truncated sequence", bytes(0x61, 0xe2, 0x82)],
  ["invalid UTF-8 in the name: 5-byte form", bytes(0xf8, 0x88, 0x80, 0x80, 0x80)],
];

const badDurations: [string, Buffer | ((field: number) => Buffer)][] = [
  ["a negative ttl", (f) => wire.duration(f, -1)],
  ["negative nanos", (f) => wire.duration(f, 0, -1)],
  ["mixed signs", (f) => wire.duration(f, 1, -5)],
  ["a zero ttl (present, empty)", (f) => wire.duration(f)],
  ["a 1 ns ttl", (f) => wire.duration(f, 0, 1)],
  ["nanos of a whole second", (f) => wire.duration(f, 0, 1_000_000_000)],
  ["nanos of 2^31-1", (f) => wire.duration(f, 0, 2 ** 31 - 1)],
  ["nanos of -2^31", (f) => wire.duration(f, 0, -(2 ** 31))],
  ["seconds of 2^63-1", (f) => wire.duration(f, (1n << 63n) - 1n)],
  ["seconds of -2^63", (f) => wire.duration(f, -(1n << 63n))],
  ["a ttl above LOCK_MAX_TTL", (f) => wire.duration(f, 301)],
  ["a truncated duration", (f) => Buffer.concat([wire.tag(f, 2), wire.varint(4), bytes(0x08, 0x80)])],
  ["a duration with its seconds length-delimited", (f) => wire.bytes(f, wire.bytes(1, "10"))],
];

const badLeaseIds: [string, Buffer | string | null][] = [
  ["no lease id", null],
  ["an empty lease id", ""],
  ["a lease id of 257 bytes", `${"A".repeat(250)}.123456`],
  ["a lease id of 64 KiB", "A".repeat(65_536)],
  ["a binary lease id", "\u0000\u0001\u0002binary\u00ff.1"],
  ["invalid UTF-8 in the lease id", Buffer.concat([utf8("A".repeat(20)), bytes(0xff, 0xfe), utf8(".1")])],
  ["many dots", "a.".repeat(100)],
  ["two tokens", `${"A".repeat(27)}.1.2`],
  ["no token", `${"A".repeat(27)}.`],
  ["no secret", ".1"],
  ["a token above 2^64-1", `${"A".repeat(27)}.18446744073709551616`],
  ["a negative token", `${"A".repeat(27)}.-1`],
  ["a secret too short", "short.1"],
  ["a secret too long", `${"A".repeat(129)}.1`],
  ["a secret with a slash", `${"A".repeat(20)}/x.1`],
];

const cases: Case[] = [
  ...ALL.flatMap((rpc) =>
    badNames.map(([what, name]): Case => ({ what, rpc, request: requestOf(rpc, { name }), code: INVALID })),
  ),
  ...WITH_TTL.flatMap((rpc) =>
    badDurations.map(
      ([what, make]): Case => ({
        what,
        rpc,
        request: requestOf(rpc, { ttl: typeof make === "function" ? make(ttlField(rpc)) : make }),
        code: INVALID,
      }),
    ),
  ),
  ...badDurations
    .filter(([what]) => !what.includes("zero") && !what.includes("1 ns") && !what.includes("MAX_TTL"))
    .map(
      ([what, make]): Case => ({
        what: `${what} as the wait`,
        rpc: "Acquire",
        request: requestOf("Acquire", { extra: [typeof make === "function" ? make(ACQUIRE_WAIT) : make] }),
        code: INVALID,
      }),
    ),
  {
    what: "a wait above LOCK_MAX_WAIT",
    rpc: "Acquire",
    request: requestOf("Acquire", { extra: [wire.duration(ACQUIRE_WAIT, 301)] }),
    code: INVALID,
  },
  ...LEASED.flatMap((rpc) =>
    badLeaseIds.map(([what, leaseId]): Case => ({ what, rpc, request: requestOf(rpc, { leaseId }), code: INVALID })),
  ),
  ...LEASED.map(
    (rpc): Case => ({ what: "a well-formed unknown lease id", rpc, request: requestOf(rpc), code: unknownLease[rpc] }),
  ),
  ...LEASED.map(
    (rpc): Case => ({
      what: "the largest token",
      rpc,
      request: requestOf(rpc, { leaseId: `${"A".repeat(27)}.18446744073709551615` }),
      code: unknownLease[rpc],
    }),
  ),
  {
    what: "an owner of 257 bytes",
    rpc: "Acquire",
    request: requestOf("Acquire", { extra: [wire.bytes(OWNER, "o".repeat(257))] }),
    code: INVALID,
  },
  {
    what: "a control character in the owner",
    rpc: "Acquire",
    request: requestOf("Acquire", { extra: [wire.bytes(OWNER, "o\u0007")] }),
    code: INVALID,
  },
  {
    what: "invalid UTF-8 in the owner",
    rpc: "Acquire",
    request: requestOf("Acquire", { extra: [wire.bytes(OWNER, bytes(0x6f, 0xc3))] }),
    code: INVALID,
  },
  // Malformed wire format: INVALID_ARGUMENT, where grpc-js alone would answer INTERNAL.
  ...ALL.flatMap((rpc): Case[] => [
    { what: "a truncated varint", rpc, request: bytes(0x0a, 0x80), code: INVALID },
    { what: "a length past the end", rpc, request: bytes(0x0a, 0x05, 0x61), code: INVALID },
    { what: "wire type 7", rpc, request: bytes(0x0f), code: INVALID },
    {
      what: "a group that never ends",
      rpc,
      request: Buffer.concat([requestOf(rpc), bytes(0xab, 0x06)]),
      code: INVALID,
    },
    { what: "field number 0", rpc, request: bytes(0x02, 0x00), code: INVALID },
    { what: "an empty message", rpc, request: Buffer.alloc(0), code: INVALID },
  ]),
  // Unknown fields are accepted and ignored, also inside a Duration.
  ...ALL.map(
    (rpc): Case => ({
      what: "unknown fields of every wire type",
      rpc,
      request: requestOf(rpc, {
        ...(rpc === "Acquire" ? { name: "unknown-fields" } : {}),
        ttl: wire.bytes(ttlField(rpc), Buffer.concat([wire.uint(1, 1), wire.uint(77, 5)])),
        extra: [
          wire.uint(99, 123456789),
          wire.bytes(100, "ignored"),
          Buffer.concat([wire.tag(101, 1), Buffer.alloc(8, 7)]),
          Buffer.concat([wire.tag(102, 5), Buffer.alloc(4, 9)]),
          wire.uint(536_870_911, 1),
        ],
      }),
      code: unknownLease[rpc],
    }),
  ),
];

describe("hostile input over real gRPC", () => {
  let servers: RedisServers;
  let running: Running;
  let raw: RawLockClient;
  let health: HealthClient;

  beforeAll(async () => {
    servers = await RedisServers.start(3);
    running = await runSidecar(testOptions({ instances: servers.urls, maxStreams: MAX_STREAMS }));
    raw = new RawLockClient(running.sidecar.address);
    health = new HealthClient(running.sidecar.address);
  });

  afterAll(async () => {
    raw?.close();
    health?.close();
    await running?.stop();
    await servers?.stopAll();
  });

  const serving = async (): Promise<void> => {
    expect(await health.check("", { deadline: Date.now() + 3000 })).toBe("SERVING");
  };

  it.each(cases.map((c) => [`${c.rpc}: ${c.what}`, c] as const))("%s", async (_title, c) => {
    // Generous for a loaded machine: a KeepAlive row expecting an error must not be cut off as "still open".
    const answer = await raw.call(c.rpc, c.request, { deadlineMs: 10_000, streamSettleMs: 8000 });
    expect({ code: answer.code, details: answer.details }).toEqual({
      code: c.code,
      details: expect.any(String) as unknown,
    });
    if (c.code === INVALID) expect(answer.details).toMatch(/^(name|ttl|wait|lease_id|owner|request): /);
    if (c.rpc === "Acquire" && answer.code === OK) {
      const response = fromBinary(AcquireResponseSchema, answer.messages[0]!);
      expect(response.acquired).toBe(true);
      await running.client.release({ name: response.lease!.name, leaseId: response.lease!.leaseId });
    }
    if (c.rpc === "Release" && answer.code === OK)
      expect(fromBinary(ReleaseResponseSchema, answer.messages[0]!).released).toBe(false);
    await serving();
  });

  it("bytes that do not parse as a health request are INVALID_ARGUMENT on Check and Watch, and health still answers", async () => {
    const client = new Client(running.sidecar.address, credentials.createInsecure());
    const passThrough = (bytes: Buffer): Buffer => bytes;
    // An unknown field (2) with wire type 7, which does not exist.
    const malformed = bytes(0x17, 0x00);
    try {
      const check = await new Promise<ServiceError | null>((resolve) =>
        client.makeUnaryRequest(
          "/grpc.health.v1.Health/Check",
          passThrough,
          passThrough,
          malformed,
          new Metadata(),
          { deadline: Date.now() + 5000 },
          (e) => resolve(e),
        ),
      );
      expect({ code: check?.code, details: check?.details }).toEqual({
        code: INVALID,
        details: expect.stringMatching(
          /^request: not a valid \/grpc\.health\.v1\.Health\/Check request message/,
        ) as unknown,
      });
      const watch = await new Promise<ServiceError | undefined>((resolve) => {
        const stream = client.makeServerStreamRequest(
          "/grpc.health.v1.Health/Watch",
          passThrough,
          passThrough,
          malformed,
          new Metadata(),
          { deadline: Date.now() + 5000 },
        );
        stream.on("data", () => undefined);
        stream.on("error", (e: ServiceError) => resolve(e));
        stream.on("end", () => resolve(undefined));
      });
      expect(watch?.code).toBe(INVALID);
    } finally {
      client.close();
    }
    await serving();
  });

  it("a request over the 4 MiB message limit is RESOURCE_EXHAUSTED", async () => {
    const answer = await raw.call("Acquire", requestOf("Acquire", { name: "n".repeat(5 << 20) }));
    expect(answer.code).toBe(EXHAUSTED);
    await serving();
  });

  it("the longest name and any Unicode without controls are fine", async () => {
    for (const name of ["n".repeat(512), "锁/ключ/🔒/ü", " leading and trailing spaces "]) {
      const lease = await running.client.acquire({ name, ttl: ms(1000) });
      expect(lease.acquired).toBe(true);
      expect((await running.client.release({ name, leaseId: lease.lease!.leaseId })).released).toBe(true);
    }
  });

  it(`a flood of KeepAlive streams beyond LOCK_MAX_STREAMS (${MAX_STREAMS}) is RESOURCE_EXHAUSTED, and the open ones keep renewing`, async () => {
    const { client } = running;
    // TTLs generous for a loaded machine: a stream that lost its lease would free a slot and spoil the count.
    const ttlMs = 1500;
    const leases = await Promise.all(
      Array.from({ length: MAX_STREAMS }, (_, i) => client.acquire({ name: `flood-${i}`, ttl: ms(ttlMs) })),
    );
    const renewals = new Array<number>(MAX_STREAMS).fill(0);
    const ended: number[] = [];
    const open = leases.map((l, i) => {
      const stream = client.keepAlive({ name: `flood-${i}`, leaseId: l.lease!.leaseId, ttl: ms(ttlMs) });
      stream.on("data", () => renewals[i]!++);
      stream.on("error", (e: ServiceError) => ended.push(e.code));
      return stream;
    });
    // Each stream is counted once its first lease message arrived.
    await eventually(() => renewals.every((n) => n >= 1), 10_000, "the first message on every stream");
    const flood = await Promise.all(
      Array.from({ length: 50 }, () =>
        raw.call("KeepAlive", requestOf("KeepAlive", { name: "flood-0", leaseId: leases[0]!.lease!.leaseId })),
      ),
    );
    expect(new Set(flood.map((a) => a.code))).toEqual(new Set([EXHAUSTED]));
    expect(flood[0]!.details).toContain("LOCK_MAX_STREAMS");
    await new Promise((r) => setTimeout(r, ttlMs));
    // Every stream that got in is still open and renewed past its first TTL.
    expect(ended).toEqual([]);
    expect(Math.min(...renewals)).toBeGreaterThanOrEqual(2);
    await serving();
    open.forEach((s) => s.cancel());
    // Room again once they closed.
    await new Promise((r) => setTimeout(r, 200));
    const fresh = await client.acquire({ name: "flood-after", ttl: ms(1000) });
    const after = await raw.call(
      "KeepAlive",
      requestOf("KeepAlive", { name: "flood-after", leaseId: fresh.lease!.leaseId }),
    );
    expect(after.code).toBe(-1); // accepted and still renewing when cancelled
  });

  const garbage: [string, () => Buffer][] = [
    ["4 KiB of random bytes", () => randomBytes(4096)],
    [
      "an HTTP/1.1 request",
      () => utf8("GET /lock.v1.LockService/Acquire HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello"),
    ],
    ["a truncated HTTP/2 preface", () => utf8("PRI * HTTP/2.0\r\n\r")],
    [
      "the HTTP/2 preface, then a frame header claiming 16 MiB",
      () =>
        Buffer.concat([
          utf8("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
          bytes(0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01),
        ]),
    ],
    [
      "the HTTP/2 preface, then random frames",
      () => Buffer.concat([utf8("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), randomBytes(2048)]),
    ],
    ["a TLS ClientHello-looking record", () => Buffer.concat([bytes(0x16, 0x03, 0x01, 0x02, 0x00), randomBytes(512)])],
  ];

  it.each(garbage)("raw bytes over plain TCP do not take the port down: %s", async (_what, make) => {
    await sendRaw(running.sidecar.port, make());
    await serving();
    const lease = await running.client.acquire({ name: "after-garbage", ttl: ms(1000) });
    expect(lease.acquired).toBe(true);
    await running.client.release({ name: "after-garbage", leaseId: lease.lease!.leaseId });
  });

  it("many idle and half-open connections do not stop calls", async () => {
    const sockets = await Promise.all(
      Array.from(
        { length: 100 },
        (_, i) =>
          new Promise<ReturnType<typeof connect>>((resolve) => {
            const socket = connect(running.sidecar.port, "127.0.0.1", () => {
              if (i % 2 === 0) socket.write("PRI * HTTP/2.0\r\n");
              resolve(socket);
            });
            socket.on("error", () => undefined);
          }),
      ),
    );
    await serving();
    const lease = await running.client.acquire({ name: "among-idle", ttl: ms(1000) });
    expect(lease.acquired).toBe(true);
    await running.client.release({ name: "among-idle", leaseId: lease.lease!.leaseId });
    sockets.forEach((s) => s.destroy());
    await serving();
  });

  it("a generated client's call still answers afterwards, with the statuses the README documents", async () => {
    const error = await running.client.extend({ name: "after-all", leaseId: UNKNOWN_LEASE, ttl: ms(1000) }).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    expect(error?.code).toBe(NOT_HELD);
  });
});

/** Writes `payload` on a fresh TCP connection and waits until the server closes it (or 1 s passes). */
function sendRaw(port: number, payload: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(payload));
    const timer = setTimeout(() => socket.destroy(), 1000);
    socket.on("data", () => undefined);
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
