import { type DescMessage, type DescMethod, type DescService, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import type {
  handleBidiStreamingCall,
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  ServiceDefinition,
} from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../protocol/grpc-service-definition.ts";
import { type UnreadableRequest, unreadableRequest } from "./unreadable-request.ts";

type Method = Pick<DescMethod, "methodKind" | "input" | "output">;

/** The grpc-js handler of one generated method, by its kind and its messages. */
type HandlerOf<M extends Method> = M["methodKind"] extends "unary"
  ? handleUnaryCall<MessageShape<M["input"]>, MessageShape<M["output"]>>
  : M["methodKind"] extends "server_streaming"
    ? handleServerStreamingCall<MessageShape<M["input"]>, MessageShape<M["output"]>>
    : M["methodKind"] extends "client_streaming"
      ? handleClientStreamingCall<MessageShape<M["input"]>, MessageShape<M["output"]>>
      : handleBidiStreamingCall<MessageShape<M["input"]>, MessageShape<M["output"]>>;

/**
 * One handler per RPC of a generated service, keyed by its local name, so a
 * renamed, missing or extra RPC fails to compile instead of going unanswered
 * (UNIMPLEMENTED) at run time.
 */
export type ServiceHandlers<S extends { method: Record<string, Method> }> = {
  [K in keyof S["method"]]: HandlerOf<S["method"][K]>;
};

/** The definition the server registers: requests that do not parse are answered with INVALID_ARGUMENT. */
export function serverServiceDefinition(service: DescService): ServiceDefinition {
  return grpcServiceDefinition(service, requestDeserializer);
}

/** Bytes that do not parse become a marker answered with INVALID_ARGUMENT (see unreadable-request.ts). */
function requestDeserializer<Desc extends DescMessage>(
  schema: Desc,
): (bytes: Buffer) => MessageShape<Desc> | UnreadableRequest {
  return (bytes) => {
    try {
      return fromBinary(schema, bytes);
    } catch (error) {
      return unreadableRequest(schema.typeName, error);
    }
  };
}
