import type { LockInstance } from "../instances/lock-instance.ts";
import { abortReason } from "../util/abort.ts";
import { fanOut } from "./fan-out.ts";
import { parseNotice } from "../instances/release-notice.ts";

/**
 * Release notices for the lock names this sidecar waits on: one
 * subscription per name on every instance, shared by the name's waiters and
 * dropped when the last one leaves. A release here wakes local waiters
 * directly. A notice that names another waiter's ticket as next is not
 * for us: waking would only get us refused in its favour. Notices only
 * shorten waits: a lost one costs the fallback delay, never correctness.
 */
export class ReleaseWatches {
  readonly #instances: readonly LockInstance[];
  readonly #timeoutMs: number;
  readonly #watches = new Map<string, WatchState>();

  constructor(instances: readonly LockInstance[], timeoutMs: number) {
    this.#instances = instances;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Subscribes (once per name) and resolves when every instance answered or
   * timed out. `fresh` says the subscription is new: a release just before it
   * went unannounced, so the caller should look again before waiting.
   * `ticket` tells the waiters' current waiting ticket, if any.
   */
  async open(name: string, channel: string, ticket: () => string | undefined): Promise<Watch> {
    let state = this.#watches.get(name);
    const fresh = !state;
    if (!state) {
      const created: WatchState = {
        channel,
        ticket,
        refs: 0,
        pending: false,
        wake: undefined,
        unsubscribe: [],
        ready: Promise.resolve(),
        seen: [],
        own: [],
      };
      const notify = (message: string): void => this.#notify(created, message);
      const subscribe = (instance: LockInstance): Promise<() => void> => {
        const subscribing = instance.watchReleases(channel, notify);
        // Kept whenever it completes, also after the wait below gave up on it
        // (a first SUBSCRIBE opens a connection): a handle dropped here would
        // leave the subscription for the life of the process.
        subscribing.then(
          (unsubscribe) =>
            this.#watches.get(name) === created ? created.unsubscribe.push(unsubscribe) : unsubscribe(),
          () => undefined,
        );
        return subscribing;
      };
      created.ready = fanOut(this.#instances, this.#timeoutMs, subscribe).then(() => undefined);
      this.#watches.set(name, (state = created));
    }
    state.refs++;
    const s = state;
    await s.ready;
    let closed = false;
    return {
      fresh,
      clearPending: () => {
        s.pending = false;
        // Copies of a release that arrive from now on may come from an
        // instance the coming attempt reaches before the release does (it
        // would answer "held"): they must be able to wake the waiter again.
        s.seen.length = 0;
      },
      wait: (timeoutMs, signal) => this.#wait(s, timeoutMs, signal),
      interrupt: () => s.wake?.(),
      close: () => {
        if (closed) return;
        closed = true;
        if (--s.refs === 0) this.#drop(name, s);
      },
    };
  }

  /** Unsubscribes everything at once (shutdown). */
  closeAll(): void {
    for (const [name, state] of this.#watches) this.#drop(name, state);
  }

  #drop(name: string, state: WatchState): void {
    if (this.#watches.get(name) === state) this.#watches.delete(name);
    state.unsubscribe.splice(0).forEach((u) => u());
  }

  /** Drops coming notices with this tag (one this sidecar announces itself). */
  markSeen(channelName: string, tag: string): void {
    for (const [, state] of this.#watches) if (state.channel === channelName) remember(state.own, tag);
  }

  /** A release through this sidecar: wake its waiters without a round trip. */
  notifyLocal(name: string, tag: string): void {
    const state = this.#watches.get(name);
    if (state) this.#notify(state, tag);
  }

  /**
   * One wake per release per attempt: the same tag comes from every
   * instance (and locally), and copies that arrive before the next attempt
   * starts add nothing to the first.
   */
  #notify(state: WatchState, message: string): void {
    const { tag, next } = parseNotice(message);
    if (next !== undefined && next !== state.ticket()) return;
    // Our own rollbacks wake nobody here, unless the notice says we go next
    // (nobody else would act on it).
    if (tag !== "" && ((next === undefined && state.own.includes(tag)) || !remember(state.seen, tag))) return;
    if (state.wake) state.wake();
    else state.pending = true;
  }

  #wait(state: WatchState, timeoutMs: number, signal?: AbortSignal): Promise<"notified" | "timeout"> {
    if (state.pending) {
      state.pending = false;
      return Promise.resolve("notified");
    }
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const finish = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        state.wake = undefined;
      };
      const onAbort = (): void => {
        finish();
        reject(abortReason(signal!));
      };
      const timer = setTimeout(
        () => {
          finish();
          resolve("timeout");
        },
        Math.max(0, timeoutMs),
      );
      signal?.addEventListener("abort", onAbort, { once: true });
      state.wake = () => {
        finish();
        resolve("notified");
      };
    });
  }
}

interface WatchState {
  channel: string;
  ticket: () => string | undefined;
  refs: number;
  /** A notice arrived while nobody was waiting: the next wait returns at once. */
  pending: boolean;
  wake: (() => void) | undefined;
  unsubscribe: (() => void)[];
  ready: Promise<void>;
  /** Tags heard since the last attempt began, to drop their copies from other instances. */
  seen: string[];
  /** Tags of this sidecar's own rollbacks: never a reason to wake. */
  own: string[];
}

/** Adds the tag to a short list; false when it was there already. */
function remember(tags: string[], tag: string): boolean {
  if (tags.includes(tag)) return false;
  tags.push(tag);
  if (tags.length > SEEN_TAGS) tags.shift();
  return true;
}

/** Releases remembered per name; copies of one release arrive within milliseconds. */
const SEEN_TAGS = 16;

export interface Watch {
  readonly fresh: boolean;
  /** Forgets notices so far: call right before an attempt, which sees their effect itself. */
  clearPending(): void;
  /** Resolves on the next release notice, or after `timeoutMs`. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<"notified" | "timeout">;
  /** Ends a wait in progress early (as a notice would); nothing when nobody waits. */
  interrupt(): void;
  close(): void;
}
