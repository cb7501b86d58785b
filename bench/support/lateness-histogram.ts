/** Lateness in milliseconds, counted in 10 ms buckets up to a minute: percentiles without keeping every value. */
export class LatenessHistogram {
  static readonly BUCKET_MS = 10;
  readonly #counts = new Uint32Array(6000);
  #total = 0;

  add(ms: number): void {
    const bucket = Math.min(this.#counts.length - 1, Math.max(0, Math.ceil(ms / LatenessHistogram.BUCKET_MS)));
    this.#counts[bucket]!++;
    this.#total++;
  }

  get count(): number {
    return this.#total;
  }

  /** The bucket bound at or below which `p` percent fall (ms). */
  percentile(p: number): number {
    const rank = Math.ceil((p / 100) * this.#total);
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank && seen > 0) return i * LatenessHistogram.BUCKET_MS;
    }
    return Number.NaN;
  }

  /** A copy, to subtract later (what fell in a window). */
  snapshot(): Uint32Array {
    return this.#counts.slice();
  }

  /** The values added since `before` (a snapshot), as a histogram of their own. */
  since(before: Uint32Array): LatenessHistogram {
    const window = new LatenessHistogram();
    for (let i = 0; i < this.#counts.length; i++) {
      const n = this.#counts[i]! - before[i]!;
      window.#counts[i] = n;
      window.#total += n;
    }
    return window;
  }
}
