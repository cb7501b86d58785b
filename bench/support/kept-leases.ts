import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { KeepAliveResponse } from "../../gen/lock/v1/lock_pb.ts";
import type { LockClient } from "../../src/client/lock-client.ts";
import { LatenessHistogram } from "./lateness-histogram.ts";
import { ManyStreams } from "./many-streams.ts";
import { withoutFigures } from "./stats.ts";

const CANCELLED = 1;
const RESOURCE_EXHAUSTED = 8;

export interface HeldLease {
  name: string;
  leaseId: string;
  /** expires_at of the last message about it (wall ms). */
  endMs: number;
  /** How long it had left when its stream was opened (ms). */
  leftAtKeepMs?: number;
  /** The stream that keeps it (shared by many leases with --many). */
  stream?: { cancel(): void } | undefined;
  /** Lost: never kept again. */
  gone?: boolean;
  /** With --many: renewals read for it, and when the last came. */
  messages?: number;
  lastMs?: number;
}

/**
 * The client side of the scale bench, kept honest: it acquires leases with a
 * bounded number of calls in flight, keeps each alive on its own KeepAlive
 * stream (or, given `perStream`, many on each KeepAliveMany stream), and,
 * like a real client, tries a refused stream again after a pause until the
 * lease's end. It counts what a real client would notice.
 */
export class KeptLeases {
  readonly #client: LockClient;
  readonly #ttlMs: number;
  readonly leases: HeldLease[] = [];
  renewals = 0;
  /** Streams that ended with an error other than our own cancel: the lease is gone. */
  lost = 0;
  /** Of those, the ones that had at least 3 s left when their stream was opened. */
  lostWithTimeLeft = 0;
  readonly lostReasons = new Map<string, number>();
  /** KeepAlive and Acquire calls answered RESOURCE_EXHAUSTED, by message. */
  readonly refusals = new Map<string, number>();
  /** Leases whose end passed before a KeepAlive stream was let in. */
  expiredUnkept = 0;
  /** With --many: expires_at values earlier than the one known for their lease, and by how much at most (ms). */
  earlier = 0;
  earlierMaxMs = 0;
  /** How long after ttl/3 each message after a stream's first arrived. */
  readonly lateness = new LatenessHistogram();
  #closing = false;
  readonly #many: ManyStreams | undefined;

  /** `perStream`: keep the leases over KeepAliveMany streams of at most this many each. */
  constructor(client: LockClient, ttlMs: number, perStream?: number) {
    this.#client = client;
    this.#ttlMs = ttlMs;
    if (perStream === undefined) return;
    this.#many = new ManyStreams(client, ttlMs, perStream, {
      renewed: (_lease, gapMs) => {
        this.renewals++;
        if (gapMs !== undefined) this.lateness.add(gapMs);
      },
      lost: (lease, why) => {
        this.lost++;
        if ((lease.leftAtKeepMs ?? Number.POSITIVE_INFINITY) >= 3000) this.lostWithTimeLeft++;
        this.#count(this.lostReasons, why);
      },
      earlier: (byMs) => {
        this.earlier++;
        this.earlierMaxMs = Math.max(this.earlierMaxMs, byMs);
      },
      refused: (_lease, why) => this.#count(this.refusals, why),
      expiredUnkept: () => this.expiredUnkept++,
    });
  }

  /** Streams open now: one per lease, or the KeepAliveMany streams. */
  get streams(): number {
    return this.#many ? this.#many.streams : this.open;
  }

  /**
   * Acquires `count` leases named `${prefix}${i}`, `inFlight` calls at a
   * time. Refused (RESOURCE_EXHAUSTED), each call is tried again after a
   * pause, as a real client would; refused for `giveUpMs` in a row, it
   * stops and says so.
   */
  async acquire(
    prefix: string,
    from: number,
    count: number,
    ttlMs: number,
    giveUpMs = Number.POSITIVE_INFINITY,
    inFlight = 64,
  ): Promise<{ acquired: number; refused: boolean }> {
    let next = from;
    let refused = false;
    const worker = async (): Promise<void> => {
      while (!refused && next < from + count) {
        const name = `${prefix}${next++}`;
        const since = Date.now();
        let lease = await this.#acquireOne(name, ttlMs);
        while (lease === "refused" && !refused && Date.now() - since < giveUpMs) {
          await sleep(100 + Math.random() * 300);
          lease = await this.#acquireOne(name, ttlMs);
        }
        if (lease === "refused") refused = true;
        else this.leases.push(lease);
      }
    };
    const before = this.leases.length;
    await Promise.all(Array.from({ length: inFlight }, worker));
    return { acquired: this.leases.length - before, refused };
  }

  async #acquireOne(name: string, ttlMs: number): Promise<HeldLease | "refused"> {
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.#client.acquire({ name, ttl: durationFromMs(ttlMs) });
        if (!r.acquired) throw new Error(`${name} is held by someone else`);
        const end = r.lease!.expiresAt!;
        return { name, leaseId: r.lease!.leaseId, endMs: Number(end.seconds) * 1000 + end.nanos / 1e6 };
      } catch (error) {
        const e = error as { code?: number; details?: string };
        if (e.code === RESOURCE_EXHAUSTED) {
          this.#count(this.refusals, `Acquire: ${e.details ?? ""}`);
          return "refused";
        }
        // Setting up is not what is measured: a call that timed out on a busy machine is tried
        // again, as a real client would (a saturated sidecar answers UNAVAILABLE when no instance
        // answer could be read in time).
        if (attempt >= 30) throw error;
        await sleep(Math.min(1000, 50 * attempt));
      }
    }
  }

  /**
   * Opens a KeepAlive stream for each lease without one, all at once; a
   * lease whose end already passed is not kept (counted in expiredUnkept).
   * Returns the least time any lease had left (ms).
   */
  keepAll(): number {
    const nowMs = Date.now();
    let leastLeftMs = Number.POSITIVE_INFINITY;
    for (const lease of this.leases) {
      if (lease.stream || lease.gone) continue;
      if (lease.endMs <= nowMs) {
        this.expiredUnkept++;
        lease.endMs = Number.NEGATIVE_INFINITY;
        continue;
      }
      lease.leftAtKeepMs = lease.endMs - nowMs;
      leastLeftMs = Math.min(leastLeftMs, lease.leftAtKeepMs);
      if (this.#many) this.#many.keep(lease);
      else this.#keep(lease);
    }
    return leastLeftMs;
  }

  #keep(lease: HeldLease): void {
    let messages = 0;
    let lastAt = 0;
    const thirdMs = this.#ttlMs / 3;
    const stream = this.#client.keepAlive({
      name: lease.name,
      leaseId: lease.leaseId,
      ttl: durationFromMs(this.#ttlMs),
    });
    lease.stream = stream;
    stream.on("data", (m: KeepAliveResponse) => {
      const now = Date.now();
      if (messages++ > 0) this.lateness.add(now - lastAt - thirdMs);
      lastAt = now;
      this.renewals++;
      const end = m.lease?.expiresAt;
      if (end) lease.endMs = Number(end.seconds) * 1000 + end.nanos / 1e6;
    });
    stream.on("error", (e: { code?: number; details?: string }) => {
      lease.stream = undefined;
      if (e.code === CANCELLED && this.#closing) return;
      if (e.code === RESOURCE_EXHAUSTED && messages === 0) {
        this.#count(this.refusals, `KeepAlive: ${e.details ?? ""}`);
        this.#retry(lease);
        return;
      }
      this.lost++;
      lease.gone = true;
      if ((lease.leftAtKeepMs ?? Number.POSITIVE_INFINITY) >= 3000) this.lostWithTimeLeft++;
      this.#count(this.lostReasons, `${e.code}: ${(e.details ?? "").replace(/"[^"]*"/g, "NAME")}`);
    });
  }

  /** A refused stream is opened again after 100-400 ms, while the lease still has time left. */
  #retry(lease: HeldLease): void {
    const pauseMs = 100 + Math.random() * 300;
    if (Date.now() + pauseMs >= lease.endMs) {
      this.expiredUnkept++;
      return;
    }
    setTimeout(() => {
      if (!this.#closing) this.#keep(lease);
    }, pauseMs);
  }

  /** Leases kept now. */
  get open(): number {
    return this.leases.reduce((n, l) => n + (l.stream ? 1 : 0), 0);
  }

  /** Cancels every stream (the owner's cancel: leases are released). */
  close(): void {
    this.#closing = true;
    if (this.#many) this.#many.close();
    else for (const lease of this.leases) lease.stream?.cancel();
  }

  /** Acquires each of `names` with wait 0, as a stranger would: how many were free (their lease had gone), and how many calls failed. */
  async takeable(names: readonly string[]): Promise<{ free: number; failed: number }> {
    let free = 0;
    let failed = 0;
    await Promise.all(
      names.map(async (name) => {
        try {
          const r = await this.#client.acquire({ name, ttl: durationFromMs(1000) });
          if (r.acquired) free++;
        } catch {
          failed++;
        }
      }),
    );
    return { free, failed };
  }

  /** Counted by message with its figures left out. */
  #count(map: Map<string, number>, message: string): void {
    const key = withoutFigures(message);
    map.set(key, (map.get(key) ?? 0) + 1);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
