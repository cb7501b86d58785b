/**
 * A whole sidecar (guards, circuit breaker, restart quarantine on) in its own
 * process, whose event loop is held for `holdMs` right after it sends its next
 * acquire: the stalled sidecar of test/integration/late-grant-restart.test.ts.
 * argv: rUrl aUrl bUrl keyPrefix holdMs.
 */
import type { InstanceAcquire } from "../../src/instances/lock-instance.ts";
import { RedisInstance } from "../../src/instances/redis-instance.ts";
import { ms, runSidecar, testOptions } from "./sidecar-fixture.ts";

const [rUrl, aUrl, bUrl, prefix, holdArg] = process.argv.slice(2) as [string, string, string, string, string];
let arm = 0;
const original = RedisInstance.prototype.acquire;
RedisInstance.prototype.acquire = function (this: any, request: InstanceAcquire) {
  const out = original.call(this, request);
  if (arm > 0 && this.name === bUrl) {
    const holdMs = arm;
    arm = 0;
    // After ioredis' own setImmediate wrote the commands to R and A.
    setImmediate(() => {
      const until = performance.now() + holdMs;
      while (performance.now() < until) {}
    });
  }
  return out;
};
const running = await runSidecar(
  testOptions({
    instances: [rUrl, aUrl, bUrl],
    keyPrefix: prefix,
    restartQuarantine: "on",
    instanceTimeoutMs: 50,
    minTtlMs: 100,
    maxTtlMs: 30_000,
  }),
);
const guards = () => running.sidecar.engine.instances as unknown as { state(): string }[];
while (!(guards()[0]!.state() === "ok" && guards()[1]!.state() === "ok")) await new Promise((r) => setTimeout(r, 20));
process.send!({ ready: true });
process.on("message", async (m: any) => {
  if (!m.go) return;
  arm = Number(holdArg);
  const startWall = Date.now();
  const out = await running.client.acquire({ name: m.name, ttl: ms(m.ttlMs) }).then(
    (r: any) => ({
      acquired: r.acquired,
      toldEndWallMs: r.acquired ? Number(r.lease.expiresAt.seconds) * 1000 + r.lease.expiresAt.nanos / 1e6 : undefined,
    }),
    (e: Error) => ({ acquired: false, error: e.message }),
  );
  process.send!({ ...out, startWall, doneWall: Date.now(), states: guards().map((g) => g.state()) });
});
