/**
 * When each instance of one engine started, as estimated from its uptime on
 * this sidecar's monotonic clock. A guard compares its instance's start with
 * the others': one that started well after the rest restarted (and may have
 * forgotten leases) even when this sidecar never saw it before, whereas
 * instances that started together are a cluster deployed together.
 */
export class InstanceAges {
  readonly #starts = new Map<string, number>();
  readonly #listeners = new Set<() => void>();

  /** Records an instance's start; every listener hears of a change. */
  report(name: string, startMs: number): void {
    if (this.#starts.get(name) === startMs) return;
    this.#starts.set(name, startMs);
    for (const listener of this.#listeners) listener();
  }

  /** The earliest start reported by any instance but `name`. */
  earliestExcept(name: string): number | undefined {
    let earliest: number | undefined;
    for (const [other, startMs] of this.#starts) if (other !== name && (earliest === undefined || startMs < earliest)) earliest = startMs;
    return earliest;
  }

  /** Calls `listener` after every change; the returned function stops that. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
