import { durationFromMs, timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { status, type ServiceError } from "@grpc/grpc-js";
import type { KeepAliveResponse } from "../../gen/lock/v1/lock_pb.ts";
import { LockClient } from "../../src/client/lock-client.ts";
import {
  noteFailedCall,
  type FrozenOwnerRecord,
  type GrantRecord,
  type History,
  type WallToMonotonic,
} from "./history.ts";
import { pause } from "./pause.ts";
import type { Prng } from "./prng.ts";
import { TcpProxy } from "./tcp-proxy.ts";

/**
 * A lease owner that freezes while it keeps its lease alive (issue 11), as a
 * long GC pause or a stopped VM would: it acquires a contended name, keeps
 * it over one KeepAlive stream, then stops acting for longer than the
 * sidecar's client ping interval + timeout but shorter than its TTL. The
 * sidecar drops its connection meanwhile; that is not the owner asking, so
 * the lease must run out at the last expires_at the owner read. The checker
 * (told-end-check.ts) holds every other grant of the name to that end.
 *
 * Why a proxy and not a real process under SIGSTOP: the campaign's clients
 * live in the harness, draw every choice from the seed and record on one
 * clock. Seen from the sidecar, a stopped process is a connection whose far
 * end neither reads nor answers pings, while its kernel still takes the
 * bytes sent to it. A TcpProxy in "freeze" mode is exactly that, and costs
 * no extra Node process on a 2-core machine. The owner's own code freezes by
 * not acting: no calls, and what its stream delivers is read only at thaw.
 * test/integration/frozen-owner.test.ts does it once with a real SIGSTOP.
 */

/** A freeze lasts at least this much beyond ping interval + timeout: the sidecar's timers may run late on a busy machine. */
const FREEZE_MARGIN_MS = 400;
/** A freeze ends at least this much before the TTL, so the owner thaws while a lease it was told of can still hold. */
const THAW_MARGIN_MS = 500;
/** After thaw, how long the owner waits for its stream to end before it takes the connection as alive. */
const END_WAIT_MS = 1000;
/** Added to an Acquire's wait for its gRPC deadline. */
const DEADLINE_SLACK_MS = 3000;

export interface FrozenOwnerSettings {
  /** Lease TTLs it asks for, drawn uniformly; at most LOCK_MAX_TTL. */
  ttlMs: readonly [number, number];
  /** The sidecars' LOCK_CLIENT_PING_INTERVAL + LOCK_CLIENT_PING_TIMEOUT: a frozen client's connection is dropped within this. */
  pingDeadlineMs: number;
}

/** The shortest freeze: longer than the ping deadline, so the sidecar drops the connection. */
export function shortestFreezeMs(settings: FrozenOwnerSettings): number {
  return settings.pingDeadlineMs + FREEZE_MARGIN_MS;
}

/** Why these settings cannot give a freeze both longer than the ping deadline and shorter than the TTL; undefined if they can. */
export function frozenOwnerSettingsProblem(settings: FrozenOwnerSettings, maxTtlMs: number): string | undefined {
  const [lo, hi] = settings.ttlMs;
  if (hi > maxTtlMs) return `frozen owners' TTL up to ${hi} ms exceeds the max TTL of ${maxTtlMs} ms`;
  if (lo - THAW_MARGIN_MS < shortestFreezeMs(settings)) {
    return `frozen owners' shortest TTL ${lo} ms leaves no freeze longer than ping interval + timeout (${settings.pingDeadlineMs} ms) + ${FREEZE_MARGIN_MS} ms and shorter than the TTL - ${THAW_MARGIN_MS} ms`;
  }
  return undefined;
}

/** Frozen owners spread over the sidecars in turn, each with its own proxy and its own seeded choices. */
export async function startFrozenOwners(
  ctx: FrozenOwnerContext,
  root: Prng,
  settings: FrozenOwnerSettings,
  count: number,
  sidecarAddresses: readonly string[],
): Promise<FrozenOwner[]> {
  const owners: FrozenOwner[] = [];
  for (let i = 0; i < count; i++) {
    const s = i % sidecarAddresses.length;
    const label = `s${s}f${Math.floor(i / sidecarAddresses.length)}`;
    owners.push(
      await FrozenOwner.start(ctx, root.fork(`frozen-owner-${label}`), settings, s, sidecarAddresses[s]!, label),
    );
  }
  return owners;
}

/** What a frozen owner needs from the campaign. */
export interface FrozenOwnerContext {
  history: History;
  clock: WallToMonotonic;
  /** Aborted when the campaign's duration is over. */
  stop: AbortSignal;
  /** When the duration will be over (performance.now()): a freeze that would not fit is not begun. */
  endsAt: number;
  nextGrantId(): number;
  count(key: string): void;
  log(line: string): void;
}

type StreamEnd = { code: number; details: string; at: number };
type StreamEvent = { kind: "message"; expiresAt: number | undefined } | { kind: "end"; code: number; details: string };

export class FrozenOwner {
  readonly #ctx: FrozenOwnerContext;
  readonly #rng: Prng;
  readonly #settings: FrozenOwnerSettings;
  readonly #sidecar: number;
  readonly #label: string;
  readonly #proxy: TcpProxy;
  readonly #client: LockClient;

  private constructor(
    ctx: FrozenOwnerContext,
    rng: Prng,
    settings: FrozenOwnerSettings,
    sidecar: number,
    label: string,
    proxy: TcpProxy,
  ) {
    this.#ctx = ctx;
    this.#rng = rng;
    this.#settings = settings;
    this.#sidecar = sidecar;
    this.#label = label;
    this.#proxy = proxy;
    // Its own proxy port, so its own connection: grpc-js shares one per target address.
    this.#client = new LockClient(`127.0.0.1:${proxy.port}`);
  }

  /** An owner of `sidecar` (reached at `address`) through its own proxy; `label` names it in the history. */
  static async start(
    ctx: FrozenOwnerContext,
    rng: Prng,
    settings: FrozenOwnerSettings,
    sidecar: number,
    address: string,
    label: string,
  ): Promise<FrozenOwner> {
    const port = Number(address.slice(address.lastIndexOf(":") + 1));
    return new FrozenOwner(ctx, rng, settings, sidecar, label, await TcpProxy.start(port));
  }

  /** Episodes one after another until the campaign stops. */
  async run(names: readonly string[]): Promise<void> {
    while (!this.#ctx.stop.aborted) {
      const ownedUntil = await this.#episode(this.#rng.pick(names));
      // It relies on a lease it let run out until its told end: only then does it look for the next one.
      await pause(Math.max(0, ownedUntil - performance.now()) + this.#rng.int(300, 1000), this.#ctx.stop);
    }
  }

  async close(): Promise<void> {
    this.#client.close();
    await this.#proxy.close();
  }

  /** One acquire and, if granted, one freeze; returns until when the owner relies on its lease. */
  async #episode(name: string): Promise<number> {
    const ctx = this.#ctx;
    const rng = this.#rng;
    const count = (what: string): void => ctx.count(`frozen-owner:${what}`);
    const ttlMs = rng.int(this.#settings.ttlMs[0], this.#settings.ttlMs[1]);
    const waitMs = rng.int(200, 2000);
    const holdMs = rng.int(100, Math.round(ttlMs / 2));
    const freezeMs = rng.int(shortestFreezeMs(this.#settings), ttlMs - THAW_MARGIN_MS);

    ctx.count("frozen-owner");
    const requestedAt = performance.now();
    let response;
    try {
      response = await this.#client.acquire(
        { name, ttl: durationFromMs(ttlMs), wait: durationFromMs(waitMs) },
        { deadline: Date.now() + waitMs + DEADLINE_SLACK_MS },
      );
    } catch (error) {
      noteFailedCall(ctx.history, "acquire", this.#sidecar, requestedAt, error);
      count(status[(error as ServiceError).code] ?? "ERROR");
      return 0;
    }
    if (!response.acquired || !response.lease?.expiresAt) {
      count("contended");
      return 0;
    }
    count("acquired");
    const grant: GrantRecord = {
      id: ctx.nextGrantId(),
      name,
      client: this.#label,
      sidecar: this.#sidecar,
      fencingToken: response.lease.fencingToken,
      requestedAt,
      receivedAt: performance.now(),
      expiresAt: this.#toMonotonic(response.lease.expiresAt),
      renewals: [],
    };
    ctx.history.grants.push(grant);

    // The owner's code reads its stream only while it is not frozen: what
    // comes meanwhile waits, as unread data in a stopped process's socket.
    let frozen = false;
    let thawed = false;
    let end: StreamEnd | undefined;
    // The stream's handlers set `end`: read it through this, which type narrowing does not pin.
    const ended = (): StreamEnd | undefined => end;
    let readAfterThaw = 0;
    const inbox: StreamEvent[] = [];
    let markEnded = (): void => undefined;
    const streamEnded = new Promise<void>((resolve) => (markEnded = resolve));
    const read = (event: StreamEvent): void => {
      const now = performance.now();
      if (event.kind === "end") {
        end ??= { code: event.code, details: event.details, at: now };
        markEnded();
      } else if (event.expiresAt !== undefined && ended() === undefined) {
        grant.renewals.push({ receivedAt: now, expiresAt: event.expiresAt });
        count("renewal");
        if (thawed) readAfterThaw++;
      }
    };
    const arrive = (event: StreamEvent): void => (frozen ? void inbox.push(event) : read(event));
    const stream = this.#client.keepAlive({
      name,
      leaseId: response.lease.leaseId,
      ttl: durationFromMs(ttlMs),
      expireOnClose: false,
    });
    stream.on("data", (message: KeepAliveResponse) =>
      arrive({
        kind: "message",
        expiresAt: message.lease?.expiresAt ? this.#toMonotonic(message.lease.expiresAt) : undefined,
      }),
    );
    stream.on("error", (error: ServiceError) => arrive({ kind: "end", code: error.code, details: error.details }));
    stream.on("end", () => arrive({ kind: "end", code: status.OK, details: "" }));

    await pause(holdMs, ctx.stop);
    if (ended() !== undefined || performance.now() + freezeMs > ctx.endsAt) {
      // Lost before it froze, or no time left for a whole freeze: an ordinary end, no episode.
      grant.stoppedAt = ended()?.at ?? performance.now();
      grant.stopReason = ended() ? "lost" : "campaign-end";
      if (!ended()) stream.cancel();
      return 0;
    }

    frozen = true;
    this.#proxy.setMode({ kind: "freeze" });
    const frozenAt = performance.now();
    count("frozen");
    ctx.log(`frozen owner ${this.#label}: frozen for ${freezeMs} ms holding ${name} (TTL ${ttlMs} ms)`);
    await pause(freezeMs, ctx.stop);
    this.#proxy.setMode({ kind: "pass" });
    const thawedAt = performance.now();
    frozen = false;
    thawed = true;
    for (const event of inbox.splice(0)) read(event);

    // A dropped connection shows now: the buffered renewals, then the stream's end.
    await Promise.race([streamEnded, pause(END_WAIT_MS)]);
    const last = ended();
    const record: FrozenOwnerRecord = {
      grantId: grant.id,
      ttlMs,
      frozenAt,
      thawedAt,
      readAfterThaw,
      toldUntil: told(grant),
    };
    if (last) {
      record.endCode = last.code;
      record.endedAt = last.at;
      count(last.code === status.UNAVAILABLE ? "dropped" : `ended-${status[last.code] ?? last.code}`);
      if (last.code !== status.UNAVAILABLE)
        ctx.log(
          `frozen owner ${this.#label}: after thaw its stream ended with ${status[last.code] ?? last.code}: ${last.details}`,
        );
      if (last.code === status.FAILED_PRECONDITION) {
        grant.stoppedAt = last.at;
        grant.stopReason = "lost";
      }
      // Otherwise the lease runs out at its told end, and the owner may rely on it till then.
    } else {
      // The connection outlived the freeze (a ping answered late, or the freeze cut short): the owner gives the lease up itself.
      count("survived");
      stream.cancel();
      record.askedAt = performance.now();
      grant.stoppedAt = record.askedAt;
      grant.stopReason = ctx.stop.aborted ? "campaign-end" : "stream-closed";
    }
    ctx.history.frozenOwners.push(record);
    return grant.stoppedAt ?? record.toldUntil;
  }

  #toMonotonic(timestamp: Timestamp): number {
    return this.#ctx.clock.toMonotonic(timestampMs(timestamp));
  }
}

/** The latest expires_at the owner read: the Acquire's or any KeepAlive message's. */
function told(grant: GrantRecord): number {
  return Math.max(grant.expiresAt, ...grant.renewals.map((r) => r.expiresAt));
}
