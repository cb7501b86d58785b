import * as grpc from "@grpc/grpc-js";
import { connect, createServer } from "node:net";
const def = { s: { path: "/x.X/S", requestStream: false, responseStream: true, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } };
const server = new grpc.Server({ "grpc.keepalive_time_ms": 300, "grpc.keepalive_timeout_ms": 300 });
server.addService(def as any, {
  s: (call: any) => {
    const base = call.call;
    const h2 = base.stream ?? base.nextCall?.stream;
    const session = h2?.session;
    const t = setInterval(() => call.write(Buffer.from("hi")), 100);
    call.on("cancelled", () => {
      clearInterval(t);
      console.log("cancelled: rstCode", h2?.rstCode, "session.destroyed", session?.destroyed, "closed", session?.closed, "stream.session", !!h2?.session);
    });
  },
});
const port = await new Promise<number>((r) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => r(p)));
const Client = grpc.makeGenericClientConstructor(def as any, "X");
// 1. client cancel
{
  const c: any = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const s = c.s(Buffer.from("a")); s.on("error", () => {}); s.on("data", () => {});
  await new Promise((r) => setTimeout(r, 250)); console.log("-- client cancel"); s.cancel();
  await new Promise((r) => setTimeout(r, 200)); c.close();
}
// 2. client cancel then close immediately
{
  const c: any = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const s = c.s(Buffer.from("a")); s.on("error", () => {}); s.on("data", () => {});
  await new Promise((r) => setTimeout(r, 250)); console.log("-- client cancel+close"); s.cancel(); c.close();
  await new Promise((r) => setTimeout(r, 200));
}
// 3. silenced relay (ping timeout)
{
  const socks: any[] = [];
  const relay = createServer((cl) => { const up = connect(port, "127.0.0.1"); socks.push(cl, up); cl.pipe(up); up.pipe(cl); cl.on("error", () => {}); up.on("error", () => {}); });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", () => r()));
  const c: any = new Client(`127.0.0.1:${(relay.address() as any).port}`, grpc.credentials.createInsecure());
  const s = c.s(Buffer.from("a")); s.on("error", (e: any) => console.log("client saw", e.code, e.details)); s.on("data", () => {});
  await new Promise((r) => setTimeout(r, 250)); console.log("-- silence");
  for (const x of socks) { x.unpipe(); x.pause(); }
  await new Promise((r) => setTimeout(r, 1500));
  for (const x of socks) x.destroy(); relay.close(); c.close();
}
// 4. socket destroyed (process killed)
{
  const socks: any[] = [];
  const relay = createServer((cl) => { const up = connect(port, "127.0.0.1"); socks.push(cl, up); cl.pipe(up); up.pipe(cl); cl.on("error", () => {}); up.on("error", () => {}); });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", () => r()));
  const c: any = new Client(`127.0.0.1:${(relay.address() as any).port}`, grpc.credentials.createInsecure());
  const s = c.s(Buffer.from("a")); s.on("error", () => {}); s.on("data", () => {});
  await new Promise((r) => setTimeout(r, 250)); console.log("-- reset");
  socks[1].resetAndDestroy();
  await new Promise((r) => setTimeout(r, 500));
  relay.close(); c.close();
}
// 5. deadline
{
  const c: any = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const s = c.s(Buffer.from("a"), { deadline: Date.now() + 200 }); s.on("error", () => {}); s.on("data", () => {});
  console.log("-- deadline");
  await new Promise((r) => setTimeout(r, 500)); c.close();
}
server.forceShutdown();
