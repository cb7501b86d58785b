/** Pub/sub within this process, delivered asynchronously as PUBLISH is (MemoryInstance, the tests' fake). */
export class LocalChannels {
  readonly #listeners = new Map<string, Set<(message: string) => void>>();

  /** Returns the function that unsubscribes. */
  subscribe(channel: string, listener: (message: string) => void): () => void {
    let listeners = this.#listeners.get(channel);
    if (!listeners) this.#listeners.set(channel, (listeners = new Set()));
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      // Only this set: after it emptied, a later subscriber may have made a new one.
      if (listeners.size === 0 && this.#listeners.get(channel) === listeners) this.#listeners.delete(channel);
    };
  }

  /** An empty message is not sent: it is LockStore's NO_NOTICE, a release that PUBLISHes nothing. */
  publish(channel: string, message: string): void {
    if (message === "") return;
    for (const listener of this.#listeners.get(channel) ?? []) queueMicrotask(() => listener(message));
  }

  /** Channels with at least one listener. */
  get channelCount(): number {
    return this.#listeners.size;
  }

  subscribers(channel: string): number {
    return this.#listeners.get(channel)?.size ?? 0;
  }

  clear(): void {
    this.#listeners.clear();
  }
}
