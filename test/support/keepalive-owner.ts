/**
 * A lease owner as its own process, so a test can freeze it (SIGSTOP) as a
 * long GC pause or a VM freeze would. Usage:
 *   node test/support/keepalive-owner.ts ADDRESS NAME TTL_MS [cancel-and-exit]
 * Acquires NAME, keeps it alive over one KeepAlive stream, and prints one
 * JSON line per event: {"acquired":…}, {"expiresAtMs":…} per message read,
 * then {"ended":code,"details":…} when the stream ends. With
 * `cancel-and-exit` it cancels its call on the first message and exits at
 * once, as a program that is done and quits does.
 */
import type { ServiceError } from "@grpc/grpc-js";
import { LockClient } from "../../src/client/lock-client.ts";

const [address, name, ttlText, mode] = process.argv.slice(2);
if (!address || !name || !ttlText) throw new Error("usage: keepalive-owner.ts ADDRESS NAME TTL_MS");
const ttlMs = Number(ttlText);
const ttl = { seconds: BigInt(Math.floor(ttlMs / 1000)), nanos: (ttlMs % 1000) * 1_000_000 };
const say = (event: object): void => void process.stdout.write(`${JSON.stringify(event)}\n`);
const millis = (t: { seconds: bigint; nanos: number } | undefined): number =>
  t ? Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6) : Number.NaN;

const client = new LockClient(address);
const granted = await client.acquire({ name, ttl, wait: { seconds: 5n, nanos: 0 } });
say({ acquired: granted.acquired, expiresAtMs: millis(granted.lease?.expiresAt) });
if (!granted.acquired) process.exit(1);
const stream = client.keepAlive({ name, leaseId: granted.lease!.leaseId, ttl });
stream.on("data", (message: { lease?: { expiresAt?: { seconds: bigint; nanos: number } } }) => {
  say({ expiresAtMs: millis(message.lease?.expiresAt), readAtMs: Date.now() });
  if (mode !== "cancel-and-exit") return;
  stream.cancel();
  process.exit(0);
});
stream.on("error", (error: ServiceError) => {
  say({ ended: error.code, details: error.details, atMs: Date.now() });
  process.exit(0);
});
stream.on("end", () => {
  say({ ended: 0, atMs: Date.now() });
  process.exit(0);
});
