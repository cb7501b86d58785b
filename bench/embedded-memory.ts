/**
 * Memory benchmark (issue 12): the embedded store must give back what its
 * expired keys held, even when nothing touches those names again.
 *
 *   npm run bench:embedded-memory -- [--names 100000] [--ttl 200ms] [--fence-retention 500ms]
 *
 * One MemoryInstance on the system clock. Each distinct name is acquired
 * with a waiting ticket (the grant consumes it), then refused to a second
 * waiter whose ticket is left to expire, and its release channel is watched
 * and unwatched. Prints the heap after a full GC before, at the peak, and
 * once every key, counter and ticket has expired and been swept (or after
 * the fence retention plus 10 s, whichever comes first).
 *
 * Needs `node --expose-gc`.
 */
import { parseDurationMs } from "../src/config/duration.ts";
import { lockKeys } from "../src/instances/keys.ts";
import { MemoryInstance } from "../src/instances/memory-instance.ts";
import { systemClock } from "../src/util/clock.ts";

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback;
};
const nameCount = Number(arg("names", "100000"));
const ttlMs = parseDurationMs(arg("ttl", "200ms")) ?? 200;
const fenceRetentionMs = parseDurationMs(arg("fence-retention", "500ms")) ?? 500;
/** How long to wait past the fence retention for the sweep before reporting what is left. */
const SWEEP_ALLOWANCE_MS = 10_000;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc (npm run bench:embedded-memory)");
const heapMiB = (): number => {
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const instance = new MemoryInstance("memory://bench", systemClock);
console.log(
  `${nameCount} distinct names, TTL ${ttlMs} ms, fence retention ${fenceRetentionMs} ms, node ${process.version}`,
);
const before = heapMiB();

const startMs = performance.now();
for (let i = 0; i < nameCount; i++) {
  const keys = lockKeys("bench:", `name-${i}`);
  const request = { keys, ttlMs, fenceRetentionMs, ticketTtlMs: ttlMs, overtake: false };
  const unwatch = await instance.watchReleases(keys.channel, () => {});
  const granted = await instance.acquire({ ...request, secret: `a-${i}`, ticket: `0001-a-${i}` });
  const refused = await instance.acquire({ ...request, secret: `b-${i}`, ticket: `0002-b-${i}` });
  if (!granted.granted || refused.granted) throw new Error(`name-${i}: expected one grant and one refusal`);
  unwatch();
}
const lastWriteMs = performance.now();
const peak = heapMiB();
const atPeak = instance.storeSize();
console.log(`acquired in ${((lastWriteMs - startMs) / 1000).toFixed(1)} s`);

// Everything has expired once the fence retention has passed; then give the sweep its time.
const deadlineMs = lastWriteMs + fenceRetentionMs + SWEEP_ALLOWANCE_MS;
await sleep(Math.max(0, lastWriteMs + fenceRetentionMs - performance.now()));
while (performance.now() < deadlineMs) {
  const { entries, ticketQueues } = instance.storeSize();
  if (entries === 0 && ticketQueues === 0) break;
  await sleep(100);
}
const left = instance.storeSize();
const sweptAfterMs = performance.now() - lastWriteMs - fenceRetentionMs;
const after = heapMiB();

const row = (label: string, heap: number, size?: { entries: number; ticketQueues: number }): string =>
  `${label.padEnd(14)} ${heap.toFixed(1).padStart(7)} MiB` +
  (size ? `   entries ${size.entries}, ticket queues ${size.ticketQueues}` : "");
console.log(row("heap before:", before));
console.log(row("heap at peak:", peak, atPeak));
console.log(row("heap after:", after, left));
console.log(`after: measured ${(sweptAfterMs / 1000).toFixed(1)} s past the last expiry`);
await instance.close();
