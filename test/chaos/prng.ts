/**
 * A small seeded pseudo-random generator for the chaos campaign, so that a
 * seed names a campaign: the same seed gives the same fault plan and the same
 * sequence of choices for every actor. Not for anything secret.
 *
 * The core is a 32-bit "add a constant, then mix" generator: a Weyl sequence
 * (state += odd constant) passed through two multiply-xorshift rounds. Every
 * 32-bit state is visited once per 2^32 steps, and the mixing makes
 * neighbouring seeds give unrelated streams.
 */
export class Prng {
  readonly #seed: number;
  #state: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
    // Fold any integer (also negative or above 2^32) into 32 bits.
    this.#seed = Number(BigInt.asUintN(32, BigInt(seed)));
    this.#state = this.#seed;
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform in [0, 1). */
  unit(): number {
    return this.nextUint32() / 4_294_967_296;
  }

  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    if (!Number.isInteger(min) || !Number.isInteger(max) || max < min)
      throw new RangeError(`bad integer range [${min}, ${max}]`);
    return min + Math.floor(this.unit() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.unit() < p;
  }

  /** One element, uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("cannot pick from an empty list");
    return items[this.int(0, items.length - 1)]!;
  }

  /** One element, with probability proportional to its weight. */
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    const total = items.reduce((sum, [, w]) => sum + Math.max(0, w), 0);
    if (total <= 0) throw new RangeError("weights must have a positive sum");
    let x = this.unit() * total;
    for (const [item, w] of items) {
      x -= Math.max(0, w);
      if (x < 0) return item;
    }
    return items[items.length - 1]![0];
  }

  /** `count` distinct elements in random order (a partial Fisher-Yates shuffle). */
  sample<T>(items: readonly T[], count: number): T[] {
    if (count > items.length) throw new RangeError(`cannot sample ${count} of ${items.length}`);
    const copy = [...items];
    for (let i = 0; i < count; i++) {
      const j = this.int(i, copy.length - 1);
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy.slice(0, count);
  }

  /**
   * An independent generator for one actor (a client, the fault planner),
   * named by a label: what one actor draws never shifts another's sequence.
   * It depends only on this generator's seed and the label, not on what has
   * been drawn from it.
   */
  fork(label: string): Prng {
    let h = (this.#seed ^ 0x811c9dc5) >>> 0;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
    return new Prng(new Prng(h).nextUint32());
  }
}
