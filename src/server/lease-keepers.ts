import { parseLeaseId } from "../engine/lease-id.ts";

/**
 * How many KeepAlive streams keep each lease alive. A client that reopens
 * its stream (after a reconnect, say) has two for a while: the old one's
 * end, noticed late, must not release the lease the new one keeps.
 */
export class LeaseKeepers {
  readonly #counts = new Map<string, number>();

  /**
   * A stream starts keeping the lease alive. The returned function is called
   * when it stops; true when it was the last one, which may release the lease.
   */
  join(name: string, leaseId: string): () => boolean {
    const key = keyOf(name, leaseId);
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    let left = false;
    return () => {
      if (left) return false;
      left = true;
      const remaining = (this.#counts.get(key) ?? 1) - 1;
      if (remaining > 0) this.#counts.set(key, remaining);
      else this.#counts.delete(key);
      return remaining === 0;
    };
  }

  /** Whether any stream keeps the lease alive now. */
  kept(name: string, leaseId: string): boolean {
    return this.#counts.has(keyOf(name, leaseId));
  }
}

function keyOf(name: string, leaseId: string): string {
  return `${name}\u0000${parseLeaseId(leaseId).secret}`;
}
