import type { ConnectionOptions } from "node:tls";
import { Redis } from "ioredis";
import { throwIfAborted, withTimeout } from "../util/abort.ts";
import { errorReason, instanceErrorText } from "../util/error-text.ts";
import type {
  AcquireReply,
  Announcement,
  EvictionPolicy,
  ExtendItem,
  HandoverReply,
  InstanceAcquire,
  InstanceIdentity,
  InstanceRelease,
  LockInstance,
  LockKeys,
  LockReading,
} from "./lock-instance.ts";
import {
  ACQUIRE,
  EXTEND,
  HANDOVER,
  LONGEST_TTL,
  RAISE_FENCE,
  READ_LOCK,
  RELEASE,
  WITHDRAW_TICKET,
  type LuaScript,
} from "./lua-scripts.ts";
import * as wire from "./script-args.ts";

export interface RedisInstanceOptions {
  /**
   * Upper bound for one command, so a hung instance fails its calls (and
   * opens its circuit); the engine's own timeout bounds what callers wait.
   */
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  /** TLS options (CA, client certificate) for a rediss:// URL; ignored for redis:// ones. */
  tls?: ConnectionOptions | undefined;
}

/** Keys per SCAN step, and so per LONGEST_TTL call, when a witness is scanned. */
const SCAN_BATCH = 1000;

/**
 * One Redis-protocol server (Dragonfly, redis-server) reached through ioredis.
 * Longer than most files on purpose: it is the one place that turns each
 * LockInstance call into commands and their replies back into our types.
 */
export class RedisInstance implements LockInstance {
  readonly name: string;
  readonly #client: Redis;
  #sub: Redis | undefined;
  #epoch = 0;
  /** The connection's last error: why calls fail while it is down (refused, reset, TLS). */
  #connectionError: unknown;
  readonly #watchers = new Map<string, Set<(tag: string) => void>>();
  readonly #commandTimeoutMs: number;

  constructor(url: string, options: RedisInstanceOptions) {
    this.name = describeUrl(url);
    this.#commandTimeoutMs = options.commandTimeoutMs;
    this.#client = new Redis(url, {
      // A vote that cannot be sent now is a failed vote: never queue commands
      // for a later reconnect, where they would act after the lease's validity.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // No ioredis commandTimeout: its timer fires before a late event loop
      // reads the answer waiting in the socket. Commands are bounded here
      // instead, by a timeout that lets such an answer count (#bounded).
      connectTimeout: options.connectTimeoutMs,
      retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
      // Reconnects are background work; they must not hold the process open.
      keepAlive: 10_000,
      lazyConnect: false,
      // Calls issued in the same tick (concurrent requests, renewals, the
      // votes of many callers) leave in one socket write: writes, not Redis,
      // dominate the sidecar's CPU profile under load.
      enableAutoPipelining: true,
      // ioredis turns TLS on for any `tls` option: keep redis:// URLs plaintext as written.
      ...(options.tls && new URL(url).protocol === "rediss:" ? { tls: options.tls } : {}),
    });
    // Errors surface as failed votes on each call; an unhandled 'error' event
    // would only add noise (ioredis logs it otherwise). The last one says why
    // the instance is down.
    this.#client.on("error", (error: unknown) => (this.#connectionError = error));
    // Before any command is sent on a new connection, so a reply can be
    // matched to the connection (and server identity) it came through.
    this.#client.on("ready", () => {
      this.#epoch++;
      this.#connectionError = undefined;
    });
  }

  async acquire(r: InstanceAcquire): Promise<AcquireReply> {
    return wire.acquireReply(await this.#run(ACQUIRE, wire.acquireCall(r)));
  }

  async handover(release: InstanceRelease, r: InstanceAcquire): Promise<HandoverReply> {
    return wire.handoverReply(await this.#run(HANDOVER, wire.handoverCall(release, r)));
  }

  async extend(items: readonly ExtendItem[], adopt = false): Promise<boolean[]> {
    return wire.extendReply(await this.#run(EXTEND, wire.extendCall(items, adopt)), items.length);
  }

  async readLock(keys: LockKeys): Promise<LockReading> {
    return wire.readLockReply(await this.#run(READ_LOCK, wire.readLockCall(keys)));
  }

  async identify(): Promise<InstanceIdentity> {
    const info = await this.#bounded(this.#client.info("server"));
    const runId = /^run_id:(\S+)/m.exec(info)?.[1];
    const uptime = /^uptime_in_seconds:(\d+)/m.exec(info)?.[1];
    if (runId === undefined && uptime === undefined)
      throw new Error("INFO server has neither run_id nor uptime_in_seconds");
    return { runId, uptimeMs: uptime === undefined ? undefined : Number(uptime) * 1000 };
  }

  connectionEpoch(): number {
    return this.#epoch;
  }

  /**
   * CONFIG GET maxmemory-policy; where CONFIG is refused (ACL, renamed on
   * managed Redis) or has no such setting (Dragonfly), INFO memory, which
   * reports maxmemory_policy (Redis) or cache_mode (Dragonfly).
   */
  async evictionPolicy(): Promise<EvictionPolicy> {
    let config: string;
    try {
      const reply = await this.#bounded(this.#client.config("GET", "maxmemory-policy"));
      // [name, value]; empty where the server has no such setting.
      if (Array.isArray(reply) && reply.length >= 2) return policyOf("maxmemory-policy", String(reply[1]));
      config = "CONFIG GET maxmemory-policy has no value";
    } catch (error) {
      if (!isRefusal(error)) throw this.#failure(error);
      config = `CONFIG GET is not permitted (${errorReason(error)})`;
    }
    let info: string;
    try {
      info = await this.#bounded(this.#client.info("memory"));
    } catch (error) {
      if (!isRefusal(error)) throw this.#failure(error);
      return { known: false, reason: `${config}; INFO memory is not permitted either` };
    }
    return (
      evictionFromInfo(info) ?? {
        known: false,
        reason: `${config}; INFO memory reports neither maxmemory_policy nor cache_mode`,
      }
    );
  }

  async release(lockKey: string, secret: string, announce?: Announcement): Promise<boolean> {
    return (await this.#run(RELEASE, wire.releaseCall(lockKey, secret, announce))) === 1;
  }

  async withdrawTicket(queueKey: string, ticket: string): Promise<void> {
    await this.#run(WITHDRAW_TICKET, wire.withdrawTicketCall(queueKey, ticket));
  }

  async watchReleases(channel: string, onRelease: (tag: string) => void): Promise<() => void> {
    const subscriber = this.#subscriber();
    let listeners = this.#watchers.get(channel);
    if (!listeners) {
      listeners = new Set();
      this.#watchers.set(channel, listeners);
    }
    listeners.add(onRelease);
    if (listeners.size === 1) {
      try {
        await subscriber.subscribe(channel);
      } catch (error) {
        // Not subscribed: forget the channel, or every later watcher would take
        // it for subscribed. Watchers that joined meanwhile fall back to their
        // retry timer, as for any lost notice.
        if (this.#watchers.get(channel) === listeners) this.#watchers.delete(channel);
        throw error;
      }
    }
    return () => {
      const current = this.#watchers.get(channel);
      if (!current?.delete(onRelease) || current.size > 0) return;
      this.#watchers.delete(channel);
      subscriber.unsubscribe(channel).catch(() => undefined);
    };
  }

  /** One subscriber connection, opened on the first watch; ioredis resubscribes after reconnects. */
  #subscriber(): Redis {
    if (!this.#sub) {
      // No command timeout on the subscriber: ioredis re-sends SUBSCRIBE by
      // itself after a reconnect and does not catch its failure, so a timeout
      // there became an unhandled rejection that ended the process. A late
      // subscription only delays notices; the fallback delay covers it.
      // Nor a retry limit: on a reconnect ioredis flushes its queue with
      // MaxRetriesPerRequestError once the limit is reached, and the SUBSCRIBE
      // it re-sent by itself has no handler either (a sidecar died of it in
      // a chaos run). Queued subscriptions wait for the next connection.
      const sub = this.#client.duplicate({
        enableOfflineQueue: true,
        commandTimeout: undefined,
        maxRetriesPerRequest: null,
      });
      sub.on("error", () => undefined);
      sub.on("message", (channel: string, tag: string) =>
        this.#watchers.get(channel)?.forEach((listener) => listener(tag)),
      );
      this.#sub = sub;
    }
    return this.#sub;
  }

  async raiseFence(fenceKey: string, token: bigint, fenceRetentionMs: number): Promise<bigint> {
    return BigInt(String(await this.#run(RAISE_FENCE, wire.raiseFenceCall(fenceKey, token, fenceRetentionMs))));
  }

  async waitUntilConnected(timeoutMs: number): Promise<void> {
    if (this.#client.status === "ready") return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#client.off("ready", done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#client.once("ready", done);
    });
  }

  /**
   * SCAN for the pattern, then LONGEST_TTL over each batch (every key
   * declared in KEYS): one SCAN and one script call per ~1,000 keys. The
   * signal is checked before each command: at 100,000 keys a scan is about
   * 200 of them, and one whose caller gave up must not go on sending them.
   */
  async longestTtlMs(pattern: string, signal?: AbortSignal): Promise<number> {
    let cursor = "0";
    let longest = 0;
    do {
      throwIfAborted(signal);
      const [next, keys] = await this.#bounded(this.#client.scan(cursor, "MATCH", pattern, "COUNT", SCAN_BATCH));
      cursor = next;
      if (keys.length === 0) continue;
      throwIfAborted(signal);
      const batchLongest = wire.longestTtlReply(await this.#run(LONGEST_TTL, wire.longestTtlCall(keys)));
      if (batchLongest === Number.POSITIVE_INFINITY) return batchLongest;
      longest = Math.max(longest, batchLongest);
    } while (cursor !== "0");
    return longest;
  }

  /** The health probe: its failure is logged, so it says what happened in our words. */
  async ping(): Promise<void> {
    try {
      await this.#bounded(this.#client.ping());
    } catch (error) {
      throw this.#failure(error);
    }
  }

  async close(): Promise<void> {
    this.#client.disconnect(false);
    this.#sub?.disconnect(false);
  }

  #failure(error: unknown): Error {
    return new Error(instanceErrorText(this.name, error, this.#connectionError), { cause: error });
  }

  /** Bounds one command; the command itself stays queued on its connection, as a sent command cannot be unsent. */
  #bounded<T>(command: Promise<T>): Promise<T> {
    return withTimeout(command, this.#commandTimeoutMs);
  }

  /** EVALSHA first; on NOSCRIPT (restart, SCRIPT FLUSH) EVAL, which caches it again. */
  async #run(lua: LuaScript, { keys, args }: wire.ScriptCall): Promise<unknown> {
    try {
      return await this.#bounded(this.#client.evalsha(lua.sha1, keys.length, ...keys, ...args));
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return await this.#bounded(this.#client.eval(lua.source, keys.length, ...keys, ...args));
    }
  }
}

/** The server refused the command itself (ACL, renamed or unknown command), rather than failing to answer. */
function isRefusal(error: unknown): boolean {
  return /^(NOPERM|ERR unknown command|ERR unknown subcommand)/i.test(errorReason(error));
}

function policyOf(setting: string, value: string): EvictionPolicy {
  return { known: true, setting, value, mayEvict: value !== "noeviction" };
}

/**
 * The eviction setting in INFO memory: Dragonfly's cache_mode (cache or
 * store; its maxmemory_policy line only mirrors it), else Redis'
 * maxmemory_policy. Undefined when neither is reported.
 */
export function evictionFromInfo(info: string): EvictionPolicy | undefined {
  const cacheMode = /^cache_mode:(\S+)/m.exec(info)?.[1];
  if (cacheMode !== undefined)
    return { known: true, setting: "cache_mode", value: cacheMode, mayEvict: cacheMode !== "store" };
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  return policy === undefined ? undefined : policyOf("maxmemory-policy", policy);
}

/** host:port (and TLS) without credentials, for logs and metrics. */
export function describeUrl(url: string): string {
  const parsed = new URL(url);
  const db = parsed.pathname && parsed.pathname !== "/" ? parsed.pathname : "";
  return `${parsed.protocol}//${parsed.host}${db}`;
}
