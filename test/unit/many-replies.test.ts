import { timestampMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import type { KeepAliveManyResponse } from "../../gen/lock/v1/lock_pb.ts";
import type { Lease } from "../../src/engine/lease.ts";
import { LeaseLostError } from "../../src/engine/lease-session.ts";
import { statusDetails, toGrpcStatus } from "../../src/errors/grpc-status.ts";
import { leaseError, ManyReplies } from "../../src/server/many-replies.ts";
import type { Clock } from "../../src/util/clock.ts";

/** A clock whose wall time can be set apart from its monotonic time. */
function testClock(): Clock & { wallOffsetMs: number } {
  const clock = {
    wallOffsetMs: 1_700_000_000_000,
    monotonicMs: () => 1000,
    wallMs: () => clock.wallOffsetMs + 1000,
  };
  return clock;
}

function lease(name: string, endMs: number): Lease {
  const id = { text: `${name}-secret.1`, secret: `${name}-secret`, fencingToken: 1n };
  return { name, leaseId: id.text, id, fencingToken: 1n, ttlMs: 3000, endMs };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("ManyReplies: what a KeepAliveMany stream sends", () => {
  it("gathers the renewals of one tick into one message", async () => {
    const sent: KeepAliveManyResponse[] = [];
    const replies = new ManyReplies((m) => sent.push(m), testClock());
    replies.narrow(600); // a 20 ms tick
    for (let i = 0; i < 50; i++) replies.renewed({ toldWallMs: 0 }, lease(`l${i}`, 5000));
    await nextTurn();
    expect(sent).toHaveLength(0);
    await sleep(60);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.renewed).toHaveLength(50);
    replies.close();
  });

  it("sends a loss at the next turn of the loop, after the renewals gathered before it", async () => {
    const sent: KeepAliveManyResponse[] = [];
    const replies = new ManyReplies((m) => sent.push(m), testClock());
    replies.renewed({ toldWallMs: 0 }, lease("a", 5000));
    replies.lost("a", "a-secret.1", new LeaseLostError("not_held", 'lock "a": the lease is no longer held'));
    await nextTurn();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.renewed.map((l) => l.name)).toEqual(["a"]);
    expect(sent[0]!.lost).toMatchObject([{ name: "a", code: 9, reason: "LEASE_NOT_HELD" }]);
    replies.close();
  });

  it("splits more than 2,000 entries over several messages, renewals first", () => {
    const sent: KeepAliveManyResponse[] = [];
    const replies = new ManyReplies((m) => sent.push(m), testClock());
    for (let i = 0; i < 2500; i++) replies.renewed({ toldWallMs: 0 }, lease(`l${i}`, 5000));
    replies.stopped("s", "s-secret.1", true);
    replies.flush();
    expect(sent.map((m) => [m.renewed.length, m.stopped.length])).toEqual([
      [2000, 0],
      [500, 1],
    ]);
    replies.close();
  });

  it("never sends a lease an expires_at earlier than one it sent, though the wall clock steps back", () => {
    const sent: KeepAliveManyResponse[] = [];
    const clock = testClock();
    const replies = new ManyReplies((m) => sent.push(m), clock);
    const told = { toldWallMs: 0 };
    replies.renewed(told, lease("a", 5000));
    replies.flush();
    clock.wallOffsetMs -= 1;
    replies.renewed(told, lease("a", 5000));
    replies.flush();
    const ends = sent.map((m) => timestampMs(m.renewed[0]!.expiresAt!));
    expect(ends[1]).toBe(ends[0]);
    replies.close();
  });

  it("says a bug in an entry as a unary call says it: INTERNAL, no reason, none of the error's own text", () => {
    const bug = new TypeError("cannot read properties of undefined (reading 'secret')");
    const unary = toGrpcStatus(bug);
    expect(statusDetails(unary.metadata).errorInfo).toBeUndefined();
    expect(leaseError("a", "a-secret.1", bug)).toMatchObject({
      name: "a",
      code: unary.code,
      reason: "",
      message: unary.details,
    });
  });
});
