import {
  type Metadata,
  type ServerInterceptor,
  type ServerListener,
  ServerInterceptingCall,
  status as grpcStatus,
} from "@grpc/grpc-js";
import {
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapPropagator,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import type { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";

/** What the interceptor needs: where spans are made, where the context lives, how a parent is read. */
export interface RpcTracing {
  tracer: Tracer;
  contexts: AsyncLocalStorageContextManager;
  propagator: TextMapPropagator;
}

const SERVICE = "lock.v1.LockService";
const PREFIX = `/${SERVICE}/`;

/** Longest lock name or owner put on a span: requests are checked only after the span starts. */
const MAX_TEXT = 256;

// The codes a server span marks as errors (OpenTelemetry's gRPC conventions):
// the server failed, rather than the caller asking for something refused.
const SERVER_FAULTS: ReadonlySet<number> = new Set([
  grpcStatus.UNKNOWN,
  grpcStatus.DEADLINE_EXCEEDED,
  grpcStatus.UNIMPLEMENTED,
  grpcStatus.INTERNAL,
  grpcStatus.UNAVAILABLE,
  grpcStatus.DATA_LOSS,
]);

/** traceparent and tracestate, read from the call's metadata. */
const metadataGetter: TextMapGetter<Metadata> = {
  keys: (metadata) => Object.keys(metadata.getMap()),
  get: (metadata, key) => {
    const values = metadata.get(key);
    return values.length === 0 ? undefined : values.map(String);
  },
};

/**
 * A grpc-js server interceptor that opens a server span per lock.v1 call,
 * named like `lock.v1.LockService/Acquire`, a child of the caller's W3C
 * trace context when the metadata carries one. The handler runs inside the
 * span's context, so the instance calls it makes nest under it. The span
 * ends with the call's status, or when the client cancels. It carries the
 * lock name and the outcome, never the lease id: that is the proof of
 * ownership. Other services (health, reflection) pass through untraced.
 */
export function rpcSpans(tracing: RpcTracing): ServerInterceptor {
  return (method, call) => {
    if (!method.path.startsWith(PREFIX)) return new ServerInterceptingCall(call);
    const rpc = new RpcSpan(tracing, method.path.slice(PREFIX.length));
    return new ServerInterceptingCall(call, {
      start: (next) => next(rpc.listener),
      sendMessage: (message, next) => {
        rpc.answered(message);
        next(message);
      },
      sendStatus: (status, next) => {
        rpc.end(status.code ?? grpcStatus.UNKNOWN, status.details);
        next(status);
      },
    });
  };
}

/** One call's span, from its metadata to its status. */
class RpcSpan {
  readonly #tracing: RpcTracing;
  readonly #method: string;
  #span: Span | undefined;
  #context: Context = ROOT_CONTEXT;
  #requested = false;
  #answered = false;
  readonly listener: ServerListener;

  constructor(tracing: RpcTracing, method: string) {
    this.#tracing = tracing;
    this.#method = method;
    this.listener = {
      onReceiveMetadata: (metadata, next) => {
        this.#start(metadata);
        // Streaming-request handlers start here: they run in the span's context too.
        this.#tracing.contexts.with(this.#context, next, undefined, metadata);
      },
      onReceiveMessage: (message, next) => {
        this.#request(message);
        next(message);
      },
      onReceiveHalfClose: (next) => this.#tracing.contexts.with(this.#context, next),
      onCancel: () => this.end(grpcStatus.CANCELLED, "cancelled by the client"),
    };
  }

  #start(metadata: Metadata): void {
    const { tracer, propagator } = this.#tracing;
    const parent = propagator.extract(ROOT_CONTEXT, metadata, metadataGetter);
    this.#span = tracer.startSpan(
      `${SERVICE}/${this.#method}`,
      {
        kind: SpanKind.SERVER,
        attributes: { "rpc.system": "grpc", "rpc.service": SERVICE, "rpc.method": this.#method },
      },
      parent,
    );
    this.#context = trace.setSpan(parent, this.#span);
  }

  /** The first request's lock name and owner, as sent (not yet checked, so cut short). */
  #request(message: unknown): void {
    const span = this.#span;
    if (this.#requested || span === undefined || typeof message !== "object" || message === null) return;
    this.#requested = true;
    const { name, owner } = message as { name?: unknown; owner?: unknown };
    if (typeof name === "string") span.setAttribute("lock.name", name.slice(0, MAX_TEXT));
    if (typeof owner === "string" && owner !== "") span.setAttribute("lock.owner", owner.slice(0, MAX_TEXT));
  }

  /** The first answer says whether the lock was taken (Acquire, Hold) or released (Release). */
  answered(message: unknown): void {
    const span = this.#span;
    if (this.#answered || span === undefined || typeof message !== "object" || message === null) return;
    this.#answered = true;
    const { acquired, released } = message as { acquired?: unknown; released?: unknown };
    if (typeof acquired === "boolean") span.setAttribute("lock.acquired", acquired);
    if (typeof released === "boolean") span.setAttribute("lock.released", released);
  }

  /** Ends the span once: a status sent after the client cancelled changes nothing. */
  end(code: number, details: string | undefined): void {
    const span = this.#span;
    if (span === undefined) return;
    this.#span = undefined;
    span.setAttribute("rpc.grpc.status_code", code);
    if (SERVER_FAULTS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message: details ?? "" });
    span.end();
  }
}
