import type { sendUnaryData, UntypedHandleCall, UntypedServiceImplementation } from "@grpc/grpc-js";
import { toGrpcStatus } from "../errors/grpc-status.ts";
import { invalidArgument, type LockError } from "../errors/lock-error.ts";

/**
 * Request bytes that do not parse as the method's message (truncated,
 * invalid UTF-8 in a string field, a bad wire type) are the caller's fault:
 * INVALID_ARGUMENT. grpc-js answers INTERNAL when a request deserializer
 * throws, so the deserializer returns this marker instead, and the service
 * implementation is wrapped so that such a call is answered before any
 * handler sees it.
 */
const UNREADABLE = Symbol("unreadable request");

export interface UnreadableRequest {
  readonly [UNREADABLE]: LockError;
}

export function unreadableRequest(typeName: string, error: unknown): UnreadableRequest {
  // The parser's reason (e.g. "premature EOF", "invalid UTF-8") helps the caller; it never echoes the bytes.
  const reason = (error instanceof Error ? error.message : String(error)).split("\n")[0]!.slice(0, 200);
  return { [UNREADABLE]: invalidArgument("request", `not a valid ${typeName} message: ${reason}`) };
}

function unreadableError(request: unknown): LockError | undefined {
  return typeof request === "object" && request !== null && UNREADABLE in request ? (request as UnreadableRequest)[UNREADABLE] : undefined;
}

type AnyHandler = (call: { request?: unknown; emit(event: "error", error: unknown): boolean }, callback?: sendUnaryData<unknown>) => void;

/** Answers calls whose request did not parse with INVALID_ARGUMENT; passes every other call on. */
export function rejectUnreadableRequests(implementation: UntypedServiceImplementation): UntypedServiceImplementation {
  const wrapped: Record<string, UntypedHandleCall> = {};
  for (const [method, handler] of Object.entries(implementation)) {
    const inner = handler as unknown as AnyHandler;
    const outer: AnyHandler = (call, callback) => {
      const error = unreadableError(call.request);
      if (error === undefined) return inner(call, callback);
      const status = toGrpcStatus(error);
      // Unary calls answer through the callback; server-streaming calls by an error on the stream.
      if (callback) callback(status);
      else call.emit("error", status);
    };
    wrapped[method] = outer as unknown as UntypedHandleCall;
  }
  return wrapped;
}
