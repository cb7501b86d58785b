/**
 * Waiting tickets held in process, with the semantics of the Lua scripts'
 * ticket hash (see ACQUIRE_STEP in lua-scripts.ts): per queue key, ticket ->
 * expiry on the caller's clock; the oldest live ticket is the smallest
 * string. Used by the embedded MemoryInstance and the engine tests' fake.
 * A queue left empty is deleted, as Redis deletes an empty hash.
 */
export class TicketQueues {
  readonly #queues = new Map<string, Map<string, number>>();
  /** Where the next sweep resumes; undefined: start a new pass. */
  #cursor: MapIterator<[string, Map<string, number>]> | undefined;

  /** Prunes expired tickets, registers or refreshes `ticket` (unless ''), and returns the oldest live one. */
  oldest(queueKey: string, ticket: string, ticketTtlMs: number, nowMs: number): string | undefined {
    let queue = this.#queues.get(queueKey);
    if (!queue && ticket === "") return undefined;
    if (!queue) this.#queues.set(queueKey, (queue = new Map()));
    for (const [id, expiresAtMs] of queue) if (expiresAtMs <= nowMs) queue.delete(id);
    if (ticket !== "") queue.set(ticket, nowMs + ticketTtlMs);
    let oldest: string | undefined;
    for (const id of queue.keys()) if (oldest === undefined || id < oldest) oldest = id;
    if (queue.size === 0) this.#queues.delete(queueKey);
    return oldest;
  }

  withdraw(queueKey: string, ticket: string): void {
    const queue = this.#queues.get(queueKey);
    if (!queue) return;
    queue.delete(ticket);
    if (queue.size === 0) this.#queues.delete(queueKey);
  }

  /** Live tickets of a queue, oldest first. */
  live(queueKey: string, nowMs: number): string[] {
    return [...(this.#queues.get(queueKey) ?? [])]
      .filter(([, expiresAtMs]) => expiresAtMs > nowMs)
      .map(([id]) => id)
      .sort();
  }

  /**
   * Drops expired tickets and the queues they leave empty, resuming where
   * the last sweep stopped; stops once it has looked at `budget` queues and
   * tickets together.
   */
  sweep(budget: number, nowMs: number): void {
    let wrapped = false;
    for (let looked = 0; looked < budget; ) {
      let next = (this.#cursor ??= this.#queues.entries()).next();
      // A finished iterator stays finished: start over, once per call.
      if (next.done && !wrapped) {
        wrapped = true;
        next = (this.#cursor = this.#queues.entries()).next();
      }
      if (next.done) {
        this.#cursor = undefined;
        return;
      }
      const [queueKey, queue] = next.value;
      looked += 1 + queue.size;
      for (const [id, expiresAtMs] of queue) if (expiresAtMs <= nowMs) queue.delete(id);
      if (queue.size === 0) this.#queues.delete(queueKey);
    }
  }

  /** Queue keys held, empty or expired ones included. */
  get size(): number {
    return this.#queues.size;
  }

  clear(): void {
    this.#cursor = undefined;
    this.#queues.clear();
  }
}
