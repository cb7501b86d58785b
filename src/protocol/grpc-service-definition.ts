import {
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";

/** Makes the request deserializer of one method; the server's answers unreadable bytes itself. */
export type RequestDeserializerOf = (schema: DescMessage) => (bytes: Buffer) => unknown;

/**
 * grpc-js has no protobuf-es generator: this builds its service definition
 * from any protobuf-es service descriptor, so the generated `gen/` code is
 * the single source of paths, streaming kinds and (de)serializers. Used by
 * clients (tests, lockctl) as it is, and by the server with its own request deserializer.
 */
export function grpcServiceDefinition(
  service: DescService,
  requestDeserializer: RequestDeserializerOf = deserializer,
): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = methodDefinition(service, method, requestDeserializer);
  }
  return definition;
}

function methodDefinition(
  service: DescService,
  method: DescMethod,
  requestDeserializer: RequestDeserializerOf,
): MethodDefinition<unknown, unknown> {
  return {
    path: `/${service.typeName}/${method.name}`,
    requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
    responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
    requestSerialize: serializer(method.input),
    requestDeserialize: requestDeserializer(method.input),
    responseSerialize: serializer(method.output),
    responseDeserialize: deserializer(method.output),
    originalName: method.name,
  };
}

function serializer<Desc extends DescMessage>(schema: Desc): (message: unknown) => Buffer {
  return (message) => {
    const bytes = toBinary(schema, message as MessageShape<Desc>);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<Desc extends DescMessage>(schema: Desc): (bytes: Buffer) => MessageShape<Desc> {
  return (bytes) => fromBinary(schema, bytes);
}
