/**
 * When each instance of one engine started, as estimated from its uptime on
 * this sidecar's monotonic clock. A guard compares its instance's start with
 * the others': one that started well after the rest restarted (and may have
 * forgotten leases) even when this sidecar never saw it before, whereas
 * instances that started together are a cluster deployed together.
 */
export class InstanceAges {
  readonly #quorum: number;
  readonly #identified = new Set<string>();
  readonly #starts = new Map<string, number>();
  readonly #listeners = new Set<() => void>();

  /** `quorum`: how many instances must be identified before any vote counts (see quorumIdentified). */
  constructor(quorum: number) {
    this.#quorum = quorum;
  }

  /** Records that an instance was identified, and its start when known; listeners hear of a change. */
  report(name: string, startMs: number | undefined): void {
    const known = this.#identified.has(name);
    this.#identified.add(name);
    if (startMs === undefined || this.#starts.get(name) === startMs) {
      if (!known) for (const listener of this.#listeners) listener();
      return;
    }
    this.#starts.set(name, startMs);
    for (const listener of this.#listeners) listener();
  }

  /**
   * Whether a majority of the instances has been identified. Until then no
   * vote counts: the first instance to answer could be a late starter that
   * only the others' starts give away.
   */
  quorumIdentified(): boolean {
    return this.#identified.size >= this.#quorum;
  }

  /** The earliest start reported by any instance but `name`. */
  earliestExcept(name: string): number | undefined {
    let earliest: number | undefined;
    for (const [other, startMs] of this.#starts)
      if (other !== name && (earliest === undefined || startMs < earliest)) earliest = startMs;
    return earliest;
  }

  /** Calls `listener` after every change; the returned function stops that. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
