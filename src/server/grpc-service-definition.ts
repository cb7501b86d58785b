import { type DescMessage, type DescService, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import type { ServiceDefinition } from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../protocol/grpc-service-definition.ts";
import { type UnreadableRequest, unreadableRequest } from "./unreadable-request.ts";

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
