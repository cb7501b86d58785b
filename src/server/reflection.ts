import { create, toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { Server } from "@grpc/grpc-js";
import { loadFileDescriptorSetFromBuffer, loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { protoPath as healthProtoPath } from "grpc-health-check";

/**
 * gRPC server reflection (v1 and v1alpha) so grpcurl and similar tools can
 * list and call the API without .proto files. The descriptors come from the
 * generated code, with their imports, plus the health service's.
 */
export function addReflection(server: Server, files: readonly DescFile[]): void {
  const set = create(FileDescriptorSetSchema, { file: withDependencies(files).map((f) => f.proto) });
  const api = loadFileDescriptorSetFromBuffer(Buffer.from(toBinary(FileDescriptorSetSchema, set)));
  const health = loadSync(healthProtoPath);
  new ReflectionService({ ...health, ...api }).addToServer(server);
}

/** Files after everything they import, each once. */
function withDependencies(files: readonly DescFile[]): DescFile[] {
  const ordered: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile): void => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    file.dependencies.forEach(visit);
    ordered.push(file);
  };
  files.forEach(visit);
  return ordered;
}
