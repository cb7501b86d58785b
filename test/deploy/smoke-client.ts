/**
 * Acquires and releases a lock through a running sidecar, with the repo's
 * client (src/client/lock-client.ts). Used by the CI checks of the image and
 * of docker-compose.yml:
 *   node test/deploy/smoke-client.ts 127.0.0.1:50051
 * Exits non-zero, saying why, on any failure.
 */
import { status, type ServiceError } from "@grpc/grpc-js";
import { LockClient } from "../../src/client/lock-client.ts";

const address = process.argv[2] ?? "127.0.0.1:50051";
const readyWithinMs = Number(process.env["SMOKE_READY_MS"] ?? 30_000);
const ms = (milliseconds: number) => ({
  seconds: BigInt(Math.floor(milliseconds / 1000)),
  nanos: (milliseconds % 1000) * 1_000_000,
});

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`smoke: ${what}`);
  console.log(`ok  ${what}`);
}

const client = new LockClient(address);
try {
  await client.waitForReady(readyWithinMs);
  const name = `smoke-${process.pid}-${Date.now()}`;
  // The sidecar may still be connecting to its instances: UNAVAILABLE is retried.
  const until = Date.now() + readyWithinMs;
  let first;
  for (;;) {
    try {
      first = await client.acquire({ name, ttl: ms(10_000), owner: "ci-smoke" }, { deadline: Date.now() + 5000 });
      break;
    } catch (error) {
      if ((error as ServiceError).code !== status.UNAVAILABLE || Date.now() > until) throw error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  check(first.acquired && first.lease !== undefined, `acquired ${name} (fencing token ${first.lease?.fencingToken})`);
  const leaseId = first.lease!.leaseId;
  const contended = await client.acquire({ name, ttl: ms(10_000) });
  check(!contended.acquired, "a second acquire while held returns acquired=false");
  const extended = await client.extend({ name, leaseId, ttl: ms(20_000) });
  check(extended.lease?.leaseId === leaseId, "extended the lease");
  const released = await client.release({ name, leaseId });
  check(released.released, "released the lease");
  const again = await client.acquire({ name, ttl: ms(5000) });
  check(
    again.acquired && again.lease!.fencingToken > first.lease!.fencingToken,
    "acquired again after release, with a larger fencing token",
  );
  check((await client.release({ name, leaseId: again.lease!.leaseId })).released, "released again");
  console.log(`smoke: lock acquired and released through ${address}`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
} finally {
  client.close();
}
