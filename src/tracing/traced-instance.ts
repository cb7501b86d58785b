import { type Span, SpanKind, SpanStatusCode, type Tracer, trace } from "@opentelemetry/api";
import type { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { VoteWithheldError } from "../instances/guarded-instance.ts";
import { InstanceDecorator, type InstanceOperation } from "../instances/instance-decorator.ts";
import type { AcquireReply, HandoverReply, LockInstance } from "../instances/lock-instance.ts";
import { TimeoutError } from "../util/abort.ts";

/** How one call to an instance ended, as its span says. */
export type InstanceOutcome = "ok" | "failed" | "timeout" | "withheld";

/**
 * A LockInstance that opens a client span per call, a child of the call
 * being served (the RPC's span, found in the async context). Laid over the
 * guards, so a vote they withhold shows as `withheld`. Calls made outside
 * any traced call (health probes, renewals) get no span: there is nothing
 * to file them under, and a root span per probe would be noise.
 */
export class TracedInstance extends InstanceDecorator {
  readonly #tracer: Tracer;
  readonly #contexts: AsyncLocalStorageContextManager;

  constructor(inner: LockInstance, tracer: Tracer, contexts: AsyncLocalStorageContextManager) {
    super(inner);
    this.#tracer = tracer;
    this.#contexts = contexts;
  }

  protected override around<T>(call: () => Promise<T>, operation: InstanceOperation): Promise<T> {
    const parent = this.#contexts.active();
    if (trace.getSpan(parent)?.isRecording() !== true) return call();
    const span = this.#tracer.startSpan(
      `instance ${operation}`,
      {
        kind: SpanKind.CLIENT,
        attributes: { "lock.instance.name": this.name, "lock.instance.operation": operation },
      },
      parent,
    );
    return call().then(
      (result) => {
        answered(span, operation, result);
        span.setAttribute("lock.instance.outcome", "ok");
        span.end();
        return result;
      },
      (error: unknown) => {
        const outcome = outcomeOf(error);
        span.setAttribute("lock.instance.outcome", outcome);
        // Instance error texts name the instance and the failure, never a secret.
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : outcome });
        span.end();
        throw error;
      },
    );
  }
}

/** What the answer said, where it says more than "answered". */
function answered(span: Span, operation: InstanceOperation, result: unknown): void {
  if (operation === "acquire") span.setAttribute("lock.instance.granted", (result as AcquireReply).granted);
  else if (operation === "release") span.setAttribute("lock.instance.released", result as boolean);
  else if (operation === "handover") {
    const reply = result as HandoverReply;
    span.setAttribute("lock.instance.released", reply.released);
    span.setAttribute("lock.instance.granted", reply.acquire.granted);
  }
}

export function outcomeOf(error: unknown): Exclude<InstanceOutcome, "ok"> {
  if (error instanceof VoteWithheldError) return "withheld";
  // An instance may wrap the timeout in an error that names it.
  if (error instanceof TimeoutError || (error instanceof Error && error.cause instanceof TimeoutError))
    return "timeout";
  return "failed";
}
