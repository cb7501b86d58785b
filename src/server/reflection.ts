import { toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { Server } from "@grpc/grpc-js";
import { loadSync, type PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { protoPath as healthProtoPath } from "grpc-health-check";

/**
 * gRPC server reflection (v1 and v1alpha) so grpcurl and similar tools can
 * list and call the API without .proto files. The descriptors come straight
 * from the generated code with their imports (ReflectionService only reads
 * `fileDescriptorProtos` from each entry; round-tripping through
 * proto-loader would rebuild them and drop imports), plus the health
 * service's.
 */
export function addReflection(server: Server, files: readonly DescFile[]): void {
  const fileDescriptorProtos = withDependencies(files).map((f) =>
    Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)),
  );
  const api = { "generated-api": { fileDescriptorProtos } } as unknown as PackageDefinition;
  new ReflectionService({ ...loadSync(healthProtoPath), ...api }).addToServer(server);
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
