import type {
  MethodDefinition,
  sendUnaryData,
  Server,
  ServiceDefinition,
  UntypedHandleCall,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { toGrpcStatus } from "../errors/grpc-status.ts";
import { invalidArgument, type LockError } from "../errors/lock-error.ts";
import { errorReason } from "../util/error-text.ts";

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
  return { [UNREADABLE]: invalidArgument("request", `not a valid ${typeName} message: ${errorReason(error)}`) };
}

/** The error of a request that did not parse, or undefined for a readable one (also per message of a client stream). */
export function unreadableError(request: unknown): LockError | undefined {
  return typeof request === "object" && request !== null && UNREADABLE in request
    ? (request as UnreadableRequest)[UNREADABLE]
    : undefined;
}

type AnyHandler = (
  call: { request?: unknown; emit(event: "error", error: unknown): boolean },
  callback?: sendUnaryData<unknown>,
) => void;

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

/**
 * `server` as seen by a library that adds its own service to it (the health
 * service): each service it adds gets request deserializers that return the
 * marker instead of throwing, and handlers wrapped as above, so undecodable
 * bytes are INVALID_ARGUMENT there too. Unary and server-streaming methods
 * only: the wrapper never sees the messages of a client stream.
 */
export function addingReadableServices(server: Server): Server {
  const view: Pick<Server, "addService"> = {
    addService: (service: ServiceDefinition, implementation: UntypedServiceImplementation) =>
      server.addService(readableDefinition(service), rejectUnreadableRequests(implementation)),
  };
  // Such libraries' addToServer(server) calls addService and nothing else.
  return view as Server;
}

function readableDefinition(service: ServiceDefinition): ServiceDefinition {
  const methods: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service) as [string, MethodDefinition<unknown, unknown>][]) {
    const parse = method.requestDeserialize;
    methods[name] = method.requestStream
      ? method
      : {
          ...method,
          requestDeserialize: (bytes: Buffer) => {
            try {
              return parse(bytes);
            } catch (error) {
              return unreadableRequest(`${method.path} request`, error);
            }
          },
        };
  }
  return methods;
}
