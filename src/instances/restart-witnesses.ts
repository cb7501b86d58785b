import type { Clock } from "../util/clock.ts";
import { linkedController, sleep } from "../util/abort.ts";
import { answerLimitMs } from "../util/answer-timer.ts";

/** One instance as a possible witness of the leases another one forgot. */
export interface Witness {
  readonly name: string;
  /** Whether its memory is known whole now: identified on this connection, not in quarantine. */
  canWitness(): boolean;
  connectionEpoch(): number;
  /**
   * The longest remaining TTL (ms) of its keys matching `pattern`; 0 without any;
   * Infinity for a key without expiry. Sends no more commands once `signal` aborts.
   */
  longestTtlMs(pattern: string, signal?: AbortSignal): Promise<number>;
}

/**
 * When a restarted instance may count again, as far as the witnesses can tell:
 * - `witnessed`: at `untilMs`;
 * - `unknown`: too few witnesses answered; asking again later may help;
 * - `unbounded`: a witness holds a lock key without expiry, so nothing
 *   shorter than LOCK_MAX_TTL can be shown; asking again would find it again.
 */
export type RestartBound =
  | { kind: "witnessed"; untilMs: number; longestMs: number; witnesses: number }
  | { kind: "unknown"; reason: string }
  | { kind: "unbounded"; reason: string };

export interface WitnessOptions {
  /** Instances in the engine and how many make a majority. */
  count: number;
  quorum: number;
  /** SCAN pattern matching every lock key of this sidecar's prefix. */
  lockPattern: string;
  /** LOCK_INSTANCE_TIMEOUT: sets how late an answer may be read and still count (answerLimitMs). */
  instanceTimeoutMs: number;
  /** Most time one witness's scan may take before it does not count. */
  scanTimeoutMs: number;
}

/** Most time one witness's scan may take: generous for 100,000 live locks (about 100 round trips). */
export const WITNESS_SCAN_TIMEOUT_MS = 10_000;

/** Redlock's drift allowance: clocks may run 1 % apart, plus 2 ms. */
const DRIFT_RATE = 0.01;
const DRIFT_FIXED_MS = 2;

/**
 * The instances of one engine, asked when one of them restarted: which
 * leases could it have forgotten, and when have they all ended? See
 * docs/design.md, "Restarted instances". Any majority that confirmed a
 * forgotten lease has another member among the witnesses when at least
 * N - quorum + 1 of the others are witnesses, so the longest TTL on the
 * witnesses bounds every forgotten lease's end.
 */
export class RestartWitnesses {
  readonly #options: WitnessOptions;
  readonly #clock: Clock;
  readonly #members: Witness[] = [];

  constructor(options: WitnessOptions, clock: Clock) {
    this.#options = options;
    this.#clock = clock;
  }

  /** Adds an instance (each guard registers its own). */
  register(member: Witness): void {
    this.#members.push(member);
  }

  /** Witnesses needed so that every majority's other members include one. */
  get needed(): number {
    return this.#options.count - this.#options.quorum + 1;
  }

  /** Waits out the writes still landing, scans the witnesses, and says when `restarted` may count again. */
  async boundFor(restarted: string, signal?: AbortSignal): Promise<RestartBound> {
    const { instanceTimeoutMs } = this.#options;
    // A grant or renewal that counted the instance's vote was sent before it
    // restarted, and no sidecar counts an answer read later than the answer
    // limit after the send: its writes to the others have landed by then.
    // Another sidecar's clock may run a little slower than ours.
    const waitMs = answerLimitMs(instanceTimeoutMs) * (1 + DRIFT_RATE) + DRIFT_FIXED_MS;
    const waited = await sleep(waitMs, signal).then(
      () => true,
      () => false,
    );
    if (!waited) return { kind: "unknown", reason: "stopped" };
    const others = this.#members.filter((m) => m.name !== restarted && m.canWitness());
    if (others.length < this.needed) return this.#tooFew(others.length);
    const answers = await Promise.all(others.map(async (w) => ({ name: w.name, ms: await this.#scan(w, signal) })));
    if (signal?.aborted) return { kind: "unknown", reason: "stopped" };
    const seen = answers.filter((a): a is { name: string; ms: number } => a.ms !== undefined);
    // Checked before the count: with more witnesses the longest TTL would still be endless.
    const endless = seen.find((a) => a.ms === Number.POSITIVE_INFINITY);
    if (endless) return this.#unbounded(endless.name);
    if (seen.length < this.needed) return this.#tooFew(seen.length);
    const longestMs = Math.max(0, ...seen.map((a) => a.ms));
    const untilMs = this.#clock.monotonicMs() + longestMs * (1 + DRIFT_RATE) + DRIFT_FIXED_MS;
    return { kind: "witnessed", untilMs, longestMs, witnesses: seen.length };
  }

  /** One witness's longest TTL, or undefined when its answer cannot be trusted. */
  async #scan(witness: Witness, signal: AbortSignal | undefined): Promise<number | undefined> {
    const epoch = witness.connectionEpoch();
    const { controller, cleanup } = linkedController(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.#options.scanTimeoutMs);
    });
    try {
      const longestMs = await Promise.race([witness.longestTtlMs(this.#options.lockPattern, controller.signal), late]);
      // A reconnection during the scan may be a restart: what it read may be gone.
      if (longestMs === undefined || witness.connectionEpoch() !== epoch || !witness.canWitness()) return undefined;
      return longestMs;
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
      // A scan that lost the race would go on asking for pages whose answer nobody reads.
      controller.abort();
      cleanup();
    }
  }

  #unbounded(witness: string): RestartBound {
    return {
      kind: "unbounded",
      reason: `${witness} holds a key matching ${this.#options.lockPattern} without expiry, which no sidecar writes: another application under the same LOCK_KEY_PREFIX, or a key changed by hand`,
    };
  }

  #tooFew(found: number): RestartBound {
    const others = this.#options.count - 1;
    return {
      kind: "unknown",
      reason: `only ${found} of the other ${others} instances could witness (need ${this.needed}): one restarted too, or does not answer`,
    };
  }
}

/** The SCAN pattern for every lock key under `keyPrefix`, glob characters in the prefix escaped. */
export function lockKeyPattern(keyPrefix: string): string {
  return `${keyPrefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}lock:*`;
}
