import type { LeaseSessions } from "../engine/lease-sessions.ts";
import type { CallEnd } from "./call-end.ts";
import type { LockServiceContext } from "./lock-service.ts";

/** A stream that keeps leases until its call ends. */
export interface OpenStream {
  /** Settles once the stream is done, its leases released or left to run out. */
  readonly done: Promise<void>;
  end(how: CallEnd): void;
}

/**
 * The open streams of one kind, under one shutdown listener. Tens of
 * thousands of streams each listening to the shutdown signal, or each owning
 * an AbortController, would cost memory for nothing.
 */
export class OpenStreams<S extends OpenStream> {
  readonly ctx: LockServiceContext;
  readonly sessions: LeaseSessions;
  readonly #open = new Set<S>();

  constructor(ctx: LockServiceContext, sessions: LeaseSessions) {
    this.ctx = ctx;
    this.sessions = sessions;
    ctx.shutdown.addEventListener(
      "abort",
      () => {
        for (const stream of [...this.#open]) stream.end("shutdown");
      },
      { once: true },
    );
  }

  /** A new stream: shutdown ends it, and waits until it is done. */
  protected opened(stream: S): void {
    this.#open.add(stream);
    this.ctx.streams.add(stream.done);
  }

  /** A stream is done: shutdown no longer waits for it. */
  finished(stream: S): void {
    this.#open.delete(stream);
    this.ctx.streams.delete(stream.done);
  }
}
