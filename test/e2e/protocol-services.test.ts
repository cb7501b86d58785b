import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import {
  credentials,
  loadPackageDefinition,
  type Client,
  type ClientDuplexStream,
  type ServiceError,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisServers } from "../support/redis-servers.ts";
import { eventually, runSidecar, testOptions, type Running } from "../support/sidecar-fixture.ts";

const require = createRequire(import.meta.url);
const reflectionProto = require.resolve("@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto");

type Ctor = new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => Client;
interface HealthClient extends Client {
  check(req: { service: string }, cb: (e: ServiceError | null, r?: { status: string }) => void): void;
}
interface ReflectionClient extends Client {
  serverReflectionInfo(): ClientDuplexStream<Record<string, unknown>, Record<string, unknown>>;
}

function clientFor<T>(protoFile: string, path: string[], address: string): T {
  const loaded = loadPackageDefinition(
    loadSync(protoFile, { enums: String, longs: String, defaults: true, oneofs: true }),
  ) as Record<string, unknown>;
  let node: unknown = loaded;
  for (const part of path) node = (node as Record<string, unknown>)[part];
  return new (node as Ctor)(address, credentials.createInsecure()) as T;
}

/** Standard gRPC services a platform expects: grpc.health.v1 and server reflection, over real gRPC. */
describe("health and reflection", () => {
  let servers: RedisServers;
  let running: Running;
  let health: HealthClient;
  let reflection: ReflectionClient;

  beforeAll(async () => {
    servers = await RedisServers.start(3);
    running = await runSidecar(testOptions({ instances: servers.urls }));
    health = clientFor<HealthClient>(healthProtoPath, ["grpc", "health", "v1", "Health"], running.sidecar.address);
    reflection = clientFor<ReflectionClient>(
      reflectionProto,
      ["grpc", "reflection", "v1", "ServerReflection"],
      running.sidecar.address,
    );
  });

  afterAll(async () => {
    health?.close();
    reflection?.close();
    await running?.stop();
    await servers?.stopAll();
  });

  const check = (service: string) =>
    new Promise<string>((resolve, reject) => health.check({ service }, (e, r) => (e ? reject(e) : resolve(r!.status))));

  const reflect = (request: Record<string, unknown>) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const call = reflection.serverReflectionInfo();
      call.on("data", (response: Record<string, unknown>) => {
        resolve(response);
        call.end();
      });
      call.on("error", reject);
      call.write(request);
    });

  it("reports SERVING with a quorum and NOT_SERVING without one", async () => {
    expect(await check("")).toBe("SERVING");
    expect(await check("lock.v1.LockService")).toBe("SERVING");
    await servers.kill(0);
    await servers.kill(1);
    await eventually(async () => (await check("lock.v1.LockService")) === "NOT_SERVING", 3000, "NOT_SERVING");
    await servers.startOne(0);
    await servers.startOne(1);
    await eventually(async () => (await check("")) === "SERVING", 5000, "SERVING");
  });

  it("lists the services and describes lock.v1.LockService through reflection", async () => {
    const listed = await reflect({ listServices: "" });
    const names = (listed["listServicesResponse"] as { service: { name: string }[] }).service.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(["lock.v1.LockService", "grpc.health.v1.Health"]));

    const described = await reflect({ fileContainingSymbol: "lock.v1.LockService" });
    const protos = (described["fileDescriptorResponse"] as { fileDescriptorProto: Buffer[] }).fileDescriptorProto.map(
      (b) => fromBinary(FileDescriptorProtoSchema, b),
    );
    const lockFile = protos.find((f) => f.name === "lock/v1/lock.proto")!;
    expect(lockFile.service[0]!.method.map((m) => m.name)).toEqual([
      "Acquire",
      "Extend",
      "Release",
      "KeepAlive",
      "Hold",
      "Describe",
      "ListLeases",
      "KeepAliveMany",
    ]);
    expect(lockFile.service[0]!.method[3]!.serverStreaming).toBe(true);
    expect(lockFile.dependency).toEqual(["google/protobuf/duration.proto", "google/protobuf/timestamp.proto"]);
  });
});
