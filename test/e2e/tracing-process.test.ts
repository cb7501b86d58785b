import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { LockClient } from "../../src/client/lock-client.ts";
import { eventually, ms } from "../support/sidecar-fixture.ts";

interface Export {
  path: string;
  contentType: string;
  body: Buffer;
}

/** The sidecar as deployed (src/main.ts), traced or not by the OTEL_* variables alone. */
describe("tracing in the sidecar process", () => {
  const procs: ChildProcess[] = [];
  const servers: Server[] = [];
  afterEach(async () => {
    for (const p of procs.splice(0)) if (p.exitCode === null) p.kill("SIGKILL");
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });

  /** Starts src/main.ts on the embedded store, takes and releases one lock, stops it with SIGTERM. */
  async function runOnce(env: Record<string, string>): Promise<{ stdout: string; stderr: string }> {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("OTEL_")));
    const proc = spawn(process.execPath, ["--import", "./test/support/opentelemetry-probe.ts", "src/main.ts"], {
      env: { ...clean, LOCK_LISTEN: "127.0.0.1:0", LOCK_ADMIN_LISTEN: "127.0.0.1:0", LOCK_INSTANCES: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    procs.push(proc);
    let stdout = "";
    let stderr = "";
    proc.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
    proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    await eventually(() => stdout.includes("sidecar listening"), 10_000, "start-up");
    const listening = stdout.split("\n").find((l) => l.includes("sidecar listening"))!;
    const client = new LockClient((JSON.parse(listening) as { address: string }).address);
    try {
      const { lease } = await client.acquire({ name: "in-process", ttl: ms(5000) });
      await client.release({ name: "in-process", leaseId: lease!.leaseId });
    } finally {
      client.close();
    }
    proc.kill("SIGTERM");
    expect(await exited).toBe(0);
    return { stdout, stderr };
  }

  const loaded = (stderr: string): string[] =>
    JSON.parse(/^opentelemetry loaded: (.*)$/m.exec(stderr)?.[1] ?? "null") as string[];

  it("without OTEL_* variables loads no OpenTelemetry SDK and says nothing of tracing", async () => {
    const { stdout, stderr } = await runOnce({});
    // prom-client requires the API itself (for exemplars): a facade that does nothing while no SDK is registered.
    expect(loaded(stderr).filter((p) => p !== "@opentelemetry/api")).toEqual([]);
    expect(stdout).not.toContain("tracing");
  });

  it("with an OTLP endpoint says so once, and sends the calls' spans there before it exits", async () => {
    const exports: Export[] = [];
    const collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        exports.push({
          path: req.url ?? "",
          contentType: req.headers["content-type"] ?? "",
          body: Buffer.concat(chunks),
        });
        res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
      });
    });
    servers.push(collector);
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    const address = collector.address();
    const port = typeof address === "object" && address ? address.port : 0;

    const { stdout, stderr } = await runOnce({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_SERVICE_NAME: "locks-under-test",
    });
    const lines = stdout.split("\n").filter((l) => l.includes("tracing on"));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      endpoint: `http://127.0.0.1:${port}/v1/traces`,
      serviceName: "locks-under-test",
      sampler: "parentbased_always_on",
    });
    expect(loaded(stderr)).toContain("@opentelemetry/sdk-trace");

    // Batched, and sent at shutdown at the latest; protobuf strings are plain UTF-8 in the body.
    expect(exports.length).toBeGreaterThan(0);
    expect(exports.every((e) => e.path === "/v1/traces" && e.contentType === "application/x-protobuf")).toBe(true);
    const body = Buffer.concat(exports.map((e) => e.body)).toString("latin1");
    for (const text of ["locks-under-test", "lock.v1.LockService/Acquire", "lock.v1.LockService/Release", "in-process"])
      expect(body).toContain(text);
    expect(body).toContain("instance acquire");
  });
});
