import { LockError } from "../errors/lock-error.ts";

/**
 * How a streaming call ended, as far as its lease is concerned:
 * - `owner-cancelled`: the client cancelled its own call, on a live connection;
 * - `connection-lost`: the connection died (ping timeout, reset, closed socket),
 *   or the end could not be told apart from that;
 * - `deadline`: the call's deadline passed;
 * - `shutdown`: this sidecar is shutting down.
 * Only the first is the owner asking to let its lease go (docs/design.md).
 */
export type CallEnd = "owner-cancelled" | "connection-lost" | "deadline" | "shutdown";

/** RST_STREAM's CANCEL code: what a client sends when it cancels one call. */
const NGHTTP2_CANCEL = 8;

/**
 * A cancel this close to the deadline is taken for the deadline: the
 * client's deadline timer and ours fire about together.
 */
const DEADLINE_SLACK_MS = 500;

interface Http2StreamView {
  readonly rstCode?: number;
}

/**
 * Tells an owner's cancel from a dead connection. grpc-js reports both as
 * "cancelled"; the HTTP/2 stream under the call tells them apart: a cancel
 * closes the stream with the client's RST_STREAM(CANCEL), whereas a dead
 * connection destroys the session, which closes its streams with another
 * code (and the client cannot send anything). grpc-js does not expose the
 * stream, so it is looked up inside the call; if that ever fails (a grpc-js
 * change), every end counts as a lost connection: the lease then runs out
 * rather than being released early, which is the safe side.
 */
export class CallEndProbe {
  readonly #stream: Http2StreamView | undefined;
  readonly #deadlineMs: number;

  constructor(call: object, deadlineMs: number) {
    this.#stream = http2StreamOf(call);
    this.#deadlineMs = deadlineMs;
  }

  /** How the call ended, given the reason its signal aborted with. */
  how(reason: unknown, shutdown: AbortSignal): CallEnd {
    if (shutdown.aborted) return "shutdown";
    if (reason instanceof LockError && reason.code === "deadline-exceeded") return "deadline";
    if (Date.now() >= this.#deadlineMs - DEADLINE_SLACK_MS) return "deadline";
    // Only a RST_STREAM(CANCEL) from the client sets this code: a session
    // destroyed under the stream (ping timeout, reset) closes it with
    // NO_ERROR or INTERNAL_ERROR. A client that cancels and exits at once
    // has its connection gone by now, yet it did ask.
    return this.#stream?.rstCode === NGHTTP2_CANCEL ? "owner-cancelled" : "connection-lost";
  }
}

/** The HTTP/2 stream of a grpc-js server call: through its interceptor chain to the base call. */
function http2StreamOf(call: object): Http2StreamView | undefined {
  let inner: unknown = (call as { call?: unknown }).call;
  for (let depth = 0; depth < 16 && typeof inner === "object" && inner !== null; depth++) {
    const stream: unknown = (inner as { stream?: unknown }).stream;
    if (typeof stream === "object" && stream !== null && "rstCode" in stream && "session" in stream)
      return stream as Http2StreamView;
    inner = (inner as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}
