import type { ServerInterceptor } from "@grpc/grpc-js";
import type { Tracer } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import type { Resource } from "@opentelemetry/resources";
import { type Sampler, type SpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { packageVersion } from "../config/version.ts";
import type { LockInstance } from "../instances/lock-instance.ts";
import { rpcSpans } from "./rpc-spans.ts";
import { TracedInstance } from "./traced-instance.ts";

export interface TracingParts {
  /** Where ended spans go: a batch processor over OTLP, or an in-memory exporter in tests. */
  spanProcessor: SpanProcessor;
  /** Default: parent-based, always on. */
  sampler?: Sampler | undefined;
  /** Default: the SDK's (service.name unknown_service). */
  resource?: Resource | undefined;
}

/**
 * One sidecar's tracing: its own provider, context manager and propagator,
 * none of them registered globally, so several sidecars in one process
 * (tests) trace apart, and a sidecar without tracing has nothing installed.
 * Only the composition root and tests build one; it is loaded on demand.
 */
export class Tracing {
  readonly tracer: Tracer;
  readonly contexts = new AsyncLocalStorageContextManager();
  readonly propagator = new W3CTraceContextPropagator();
  readonly #provider: TracerProvider;

  constructor(parts: TracingParts) {
    this.#provider = new TracerProvider({
      spanProcessors: [parts.spanProcessor],
      ...(parts.sampler === undefined ? {} : { sampler: parts.sampler }),
      ...(parts.resource === undefined ? {} : { resource: parts.resource }),
    });
    this.tracer = this.#provider.getTracer("redlock-sidecar", packageVersion());
  }

  /** The server interceptor that opens a span per lock.v1 call. */
  interceptor(): ServerInterceptor {
    return rpcSpans(this);
  }

  /** `instance` with a span per call made while a traced call is served. */
  instance(instance: LockInstance): LockInstance {
    return new TracedInstance(instance, this.tracer, this.contexts);
  }

  /** Sends the spans still buffered, then stops. */
  shutdown(): Promise<void> {
    return this.#provider.shutdown();
  }
}
