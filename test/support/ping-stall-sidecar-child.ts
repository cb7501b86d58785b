/**
 * A sidecar in its own process whose event loop is held for `holdMs` right
 * after it sends a client ping, whenever the parent says "stall": the
 * saturated sidecar of test/integration/client-pings.test.ts.
 * argv: instance URLs (comma-separated), ping interval ms, ping timeout ms.
 */
import type { ServerHttp2Session } from "node:http2";
import { ClientPings } from "../../src/server/client-pings.ts";
import { runSidecar, testOptions } from "./sidecar-fixture.ts";

const [urls, intervalMs, timeoutMs] = process.argv.slice(2) as [string, string, string];
let holdMs = 0;
const watch = ClientPings.prototype.watch;
ClientPings.prototype.watch = function (this: ClientPings, session: ServerHttp2Session) {
  const ping = session.ping.bind(session);
  (session as { ping: unknown }).ping = (
    callback: (error: Error | null, duration: number, payload: Buffer) => void,
  ) => {
    const sent = ping(callback);
    if (holdMs > 0) {
      const until = performance.now() + holdMs;
      holdMs = 0;
      // After the PING frame is written: its answer arrives while this thread is busy.
      setImmediate(() => {
        while (performance.now() < until) {
          // busy
        }
        process.send!({ held: true });
      });
    }
    return sent;
  };
  return watch.call(this, session);
};
const running = await runSidecar(
  testOptions({
    instances: urls.split(","),
    clientPingIntervalMs: Number(intervalMs),
    clientPingTimeoutMs: Number(timeoutMs),
  }),
);
process.send!({ address: running.sidecar.address });
process.on("message", (m: { stall?: number }) => {
  if (m.stall) holdMs = m.stall;
});
