import type { ClientReadableStream, ServiceError, StatusObject } from "@grpc/grpc-js";
import type { HoldResponse } from "../../gen/lock/v1/lock_pb.ts";

export type HoldEvent =
  | { kind: "message"; message: HoldResponse }
  /** The call is over: `error` is set for any status but OK; `cancelledHere` when this side cancelled it. */
  | { kind: "end"; status: StatusObject | undefined; error: ServiceError | undefined; cancelledHere: boolean };

/**
 * One Hold call, its events handed in order to whoever listens now: the
 * opener until the first message, then the lease. Between the two, events
 * are queued: grpc-js may deliver a renewal in the same tick as the grant.
 */
export class HoldStream {
  readonly #call: ClientReadableStream<HoldResponse>;
  #listener: ((event: HoldEvent) => void) | undefined;
  readonly #queue: HoldEvent[] = [];
  #status: StatusObject | undefined;
  #error: ServiceError | undefined;
  #cancelledHere = false;
  readonly #ended: Promise<void>;

  constructor(call: ClientReadableStream<HoldResponse>, listener: (event: HoldEvent) => void) {
    this.#call = call;
    this.#listener = listener;
    call.on("data", (message: HoldResponse) => this.#deliver({ kind: "message", message }));
    // grpc-js reports the status before the last buffered messages are read: the end is "end".
    call.on("status", (status: StatusObject) => (this.#status = status));
    call.on("error", (error: ServiceError) => (this.#error = error));
    this.#ended = new Promise((resolve) => {
      let over = false;
      const end = (): void => {
        if (over) return;
        over = true;
        this.#deliver({ kind: "end", status: this.#status, error: this.#error, cancelledHere: this.#cancelledHere });
        resolve();
      };
      // "close" too, in case a stream is destroyed without ending.
      call.once("end", end);
      call.once("close", end);
    });
  }

  /** Hands the events to `listener`, first those queued since detach(). */
  listen(listener: (event: HoldEvent) => void): void {
    this.#listener = listener;
    for (const event of this.#queue.splice(0)) listener(event);
  }

  /** Queues the events until the next listen(). */
  detach(): void {
    this.#listener = undefined;
  }

  /** Ends the call from this side: the sidecar releases the lease unless the hold asked to expire on close. */
  cancel(): void {
    this.#cancelledHere = true;
    this.#call.cancel();
  }

  #deliver(event: HoldEvent): void {
    if (this.#listener) this.#listener(event);
    else this.#queue.push(event);
  }

  /** Resolves once the call is over (at once after cancel, locally). */
  get ended(): Promise<void> {
    return this.#ended;
  }
}
