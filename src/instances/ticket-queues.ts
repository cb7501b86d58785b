/**
 * Waiting tickets held in process, with the semantics of the Lua scripts'
 * ticket hash (see ACQUIRE_STEP in lua-scripts.ts): per queue key, ticket ->
 * expiry on the caller's clock; the oldest live ticket is the smallest
 * string. Used by the embedded MemoryInstance and the engine tests' fake.
 */
export class TicketQueues {
  readonly #queues = new Map<string, Map<string, number>>();

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
    this.#queues.get(queueKey)?.delete(ticket);
  }

  /** Live tickets of a queue, oldest first. */
  live(queueKey: string, nowMs: number): string[] {
    return [...(this.#queues.get(queueKey) ?? [])]
      .filter(([, expiresAtMs]) => expiresAtMs > nowMs)
      .map(([id]) => id)
      .sort();
  }

  clear(): void {
    this.#queues.clear();
  }
}
