import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../support/redis-servers.ts";
import { eventually } from "../support/sidecar-fixture.ts";

const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

/** What a new user meets starting the sidecar: its version, and one clear line when it cannot start. */
describe("sidecar start-up", () => {
  const procs: ChildProcess[] = [];
  const blockers: Server[] = [];

  afterEach(async () => {
    for (const p of procs.splice(0)) if (p.exitCode === null) p.kill("SIGKILL");
    await Promise.all(blockers.splice(0).map((b) => new Promise((resolve) => b.close(resolve))));
  });

  function run(script: string, env: Record<string, string>, args: string[] = []) {
    const proc = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, LOCK_LISTEN: "127.0.0.1:0", LOCK_ADMIN_LISTEN: "127.0.0.1:0", LOCK_INSTANCES: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    procs.push(proc);
    let stdout = "";
    let stderr = "";
    proc.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
    proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    return { stdout: () => stdout, stderr: () => stderr, exited };
  }

  /** A port something else listens on. */
  async function takenPort(): Promise<number> {
    const blocker = createServer();
    blockers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const address = blocker.address();
    return typeof address === "object" && address ? address.port : 0;
  }

  /** One line on stderr, no JSON fatal record, no stack trace. */
  function expectOneLine(stderr: string, stdout: string): void {
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(stdout + stderr).not.toContain('"level":60');
    expect(stdout + stderr).not.toMatch(/^\s+at /m);
  }

  it("--version prints the package version, and the start-up line carries it", async () => {
    const printed = run("src/main.ts", {}, ["--version"]);
    expect(await printed.exited).toBe(0);
    expect(printed.stdout()).toBe(`redlock-sidecar ${version}\n`);

    const started = run("src/main.ts", {});
    await eventually(() => started.stdout().includes("sidecar listening"), 10_000, "start-up");
    const line = started
      .stdout()
      .split("\n")
      .find((l) => l.includes("sidecar listening"))!;
    expect(JSON.parse(line)).toMatchObject({ version });
  });

  it("the start-up line gives the heap limit LOCK_OVERLOAD_HEAP is a share of, which follows --max-old-space-size", async () => {
    const started = run("src/main.ts", { NODE_OPTIONS: "--max-old-space-size=200" });
    await eventually(() => started.stdout().includes("sidecar listening"), 10_000, "start-up");
    const line = started
      .stdout()
      .split("\n")
      .find((l) => l.includes("sidecar listening"))!;
    const { heapLimitMiB } = JSON.parse(line) as { heapLimitMiB: number };
    // The old generation's 200 MiB, and the young generation's reservation.
    expect(heapLimitMiB).toBeGreaterThanOrEqual(200);
    expect(heapLimitMiB).toBeLessThan(400);
  });

  it("lockctl --version prints the package version", async () => {
    const printed = run("src/cli/lockctl.ts", {}, ["--version"]);
    expect(await printed.exited).toBe(0);
    expect(printed.stdout()).toBe(`lockctl ${version}\n`);
  });

  // Regression: a second sidecar on one host died with a level-60 JSON record and a stack trace.
  it("a second sidecar whose admin port is taken exits with one line naming LOCK_ADMIN_LISTEN", async () => {
    const port = await freePort();
    const first = run("src/main.ts", { LOCK_ADMIN_LISTEN: `127.0.0.1:${port}` });
    await eventually(() => first.stdout().includes("sidecar listening"), 10_000, "first sidecar");

    const second = run("src/main.ts", { LOCK_ADMIN_LISTEN: `127.0.0.1:${port}` });
    expect(await second.exited).toBe(1);
    expect(second.stderr()).toBe(
      `redlock-sidecar: cannot listen on 127.0.0.1:${port} (LOCK_ADMIN_LISTEN / --admin-listen): ` +
        "the address is already in use (is another sidecar running on this host?); choose a free host:port\n",
    );
    expectOneLine(second.stderr(), second.stdout());
  });

  it("a taken gRPC port exits with one line naming LOCK_LISTEN, without grpc-js' own line", async () => {
    const port = await takenPort();
    const taken = run("src/main.ts", { LOCK_LISTEN: `127.0.0.1:${port}` });
    expect(await taken.exited).toBe(1);
    expect(taken.stderr()).toMatch(
      new RegExp(
        `^redlock-sidecar: cannot listen on 127\\.0\\.0\\.1:${port} \\(LOCK_LISTEN / --listen\\): the address is already in use`,
      ),
    );
    expectOneLine(taken.stderr(), taken.stdout());
  });

  it("an instance written as host:port is named as given, with the URL to write", async () => {
    const wrong = run("src/main.ts", {}, ["--instances", "localhost:6379"]);
    expect(await wrong.exited).toBe(2);
    expect(wrong.stderr()).toBe(
      'redlock-sidecar: invalid configuration: --instances (LOCK_INSTANCES): "localhost:6379" is not a redis:// or rediss:// URL; write redis://localhost:6379\n',
    );
  });
});
