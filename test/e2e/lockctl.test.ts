import { spawn, type ChildProcess } from "node:child_process";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { freePort, RedisServers } from "../support/redis-servers.ts";
import { eventually, ms, runSidecar, testOptions, type Running } from "../support/sidecar-fixture.ts";
import { TOLERANT } from "../support/tolerant-timeouts.ts";

interface Run {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** lockctl as users run it: a separate process against a sidecar over real gRPC on 127.0.0.1. */
describe("lockctl", () => {
  let servers: RedisServers | undefined;
  let running: Running | undefined;
  let prefix = "";
  const redis: Redis[] = [];
  const procs: ChildProcess[] = [];

  afterEach(async () => {
    // Each lockctl leads its own process group: killing the group also ends a command it left running.
    for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) process.kill(-p.pid!, "SIGKILL");
    await running?.stop();
    redis.splice(0).forEach((r) => r.disconnect());
    await servers?.stopAll();
    running = undefined;
    servers = undefined;
  });

  async function setUp(): Promise<Running> {
    servers = await RedisServers.start(3);
    const options = testOptions({ instances: servers.urls, ...TOLERANT });
    prefix = options.keyPrefix;
    running = await runSidecar(options);
    await eventually(() => running!.sidecar.health.serving, 5000, "quorum");
    redis.push(...servers.urls.map((url) => new Redis(url, { maxRetriesPerRequest: 1 }).on("error", () => undefined)));
    return running;
  }

  function start(args: string[], env: Record<string, string> = {}): Run {
    const proc = spawn(process.execPath, ["src/cli/lockctl.ts", ...args], {
      env: {
        ...process.env,
        LOCK_ADDRESS: running?.sidecar.address ?? "",
        LOCK_ADMIN_ADDRESS: `127.0.0.1:${running?.sidecar.adminPort ?? 1}`,
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    procs.push(proc);
    let stdout = "";
    let stderr = "";
    proc.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
    proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once("close", (code) => resolve(code)));
    return { proc, stdout: () => stdout, stderr: () => stderr, exited };
  }

  async function lockctl(
    args: string[],
    env: Record<string, string> = {},
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const run = start(args, env);
    const code = await run.exited;
    return { code, stdout: run.stdout(), stderr: run.stderr() };
  }

  /** The secret each instance holds for the lock: its value up to the holder recorded after it. */
  const lockValues = (name: string) =>
    Promise.all(redis.map(async (r) => (await r.get(`${prefix}lock:${name}`))?.split(" ")[0] ?? null));
  /** Calls answer once a majority did the work: the slowest instance's write may land a moment later. */
  const lockValuesSettleTo = (name: string, value: string | null) =>
    eventually(
      async () => (await lockValues(name)).every((v) => v === value),
      2000,
      `${name} = ${String(value)} on every instance`,
    );

  it("acquire, extend and release with their exit codes", async () => {
    const { sidecar } = await setUp();
    // Long enough to outlast several lockctl start-ups on a loaded machine.
    const acquired = await lockctl(["acquire", "ctl-a", "--ttl", "1m", "--owner", "test"]);
    expect(acquired.code).toBe(0);
    const lease = JSON.parse(acquired.stdout) as {
      name: string;
      leaseId: string;
      fencingToken: string;
      expiresAt: string;
      ttlMs: number;
    };
    expect(lease).toMatchObject({ name: "ctl-a", ttlMs: 60_000 });
    expect(lease.fencingToken).toMatch(/^\d+$/);
    expect(Date.parse(lease.expiresAt)).toBeGreaterThan(Date.now());
    // Really held on the instances, under the lease's secret.
    await lockValuesSettleTo("ctl-a", lease.leaseId.split(".")[0]!);

    const contended = await lockctl(["acquire", "ctl-a", "--wait", "200ms"]);
    expect(contended.code).toBe(1);
    expect(contended.stdout).toBe("");
    expect(contended.stderr).toMatch(/not acquired: "ctl-a" is held elsewhere/);

    const extended = await lockctl(["extend", "ctl-a", lease.leaseId, "--ttl", "2m", "--address", sidecar.address], {
      LOCK_ADDRESS: "127.0.0.1:1",
    });
    expect(extended.code).toBe(0);
    expect(JSON.parse(extended.stdout)).toMatchObject({ name: "ctl-a", leaseId: lease.leaseId, ttlMs: 120_000 });

    const released = await lockctl(["release", "ctl-a", lease.leaseId]);
    expect(released.code).toBe(0);
    expect(JSON.parse(released.stdout)).toEqual({ released: true });
    await lockValuesSettleTo("ctl-a", null);
    const again = await lockctl(["release", "ctl-a", lease.leaseId]);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toEqual({ released: false });

    const lost = await lockctl(["extend", "ctl-a", lease.leaseId]);
    expect(lost.code).toBe(3);
    expect(lost.stderr).toMatch(/FAILED_PRECONDITION/);
  });

  // More usage errors are covered in-process by test/unit/lockctl-usage.test.ts.
  it("exits 2 on usage errors (also those the sidecar finds), 4 when the sidecar is unreachable", async () => {
    await setUp();
    for (const args of [["acquire"], ["acquire", "x", "--ttl", "1h"]]) {
      const result = await lockctl(args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(/^lockctl: .*--help/);
    }
    const unreachable = await lockctl(["acquire", "x"], { LOCK_ADDRESS: `127.0.0.1:${await freePort()}` });
    expect(unreachable.code).toBe(4);
    expect(unreachable.stderr).toMatch(/UNAVAILABLE/);
    const help = await lockctl(["hold", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: lockctl hold NAME/);
  });

  it("hold runs the command with the fencing token, keeps the lease alive and releases it afterwards", async () => {
    const { client } = await setUp();
    const run = start([
      "hold",
      "ctl-hold",
      "--ttl",
      "1s",
      "--",
      "sh",
      "-c",
      'echo "name=$LOCK_NAME token=$LOCK_FENCING_TOKEN"; sleep 4; exit 7',
    ]);
    await eventually(() => run.stdout().includes("token="), 10_000, "the command to start");
    const [, name, token] = /name=(\S*) token=(\S*)/.exec(run.stdout())!;
    expect(name).toBe("ctl-hold");
    expect(token).toMatch(/^\d+$/);
    // One Hold call took it: no Acquire (and so no window before the keeping starts).
    const metrics = await (await fetch(`http://127.0.0.1:${running!.sidecar.adminPort}/metrics`)).text();
    const acquires = [...metrics.matchAll(/^lock_requests_total\{rpc="acquire",[^}]*\} (\d+)$/gm)].reduce(
      (sum, m) => sum + Number(m[1]),
      0,
    );
    expect(acquires).toBe(0);
    // Past the first TTL: still held, so the KeepAlive stream renewed it.
    await new Promise((r) => setTimeout(r, 1300));
    expect((await client.acquire({ name: "ctl-hold" })).acquired).toBe(false);
    expect(await run.exited).toBe(7);
    await lockValuesSettleTo("ctl-hold", null);
    const next = await client.acquire({ name: "ctl-hold", ttl: ms(1000) });
    expect(next.acquired).toBe(true);
    expect(next.lease!.fencingToken).toBeGreaterThan(BigInt(token!));
  });

  it("says it is waiting during a long wait on a terminal only", async () => {
    const { client } = await setUp();
    await client.acquire({ name: "ctl-wait", ttl: ms(30_000) });
    const piped = await lockctl(["acquire", "ctl-wait", "--wait", "1500ms"]);
    expect(piped.code).toBe(1);
    expect(piped.stderr).not.toMatch(/waiting/);
    // script(1) gives lockctl a terminal for its stdio; its stdout carries what lockctl wrote to stderr.
    const onTerminal = await new Promise<string>((resolve) => {
      const command = `${process.execPath} src/cli/lockctl.ts hold ctl-wait --wait 1500ms -- true`;
      const proc = spawn("script", ["-qec", command, "/dev/null"], {
        env: { ...process.env, LOCK_ADDRESS: running!.sidecar.address },
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      proc.stdout.on("data", (c: Buffer) => (out += c.toString()));
      proc.once("close", () => resolve(out));
    });
    expect(onTerminal).toMatch(
      /lockctl: waiting for "ctl-wait", held elsewhere \(up to 1500ms; Ctrl-C gives up\)\r?\nlockctl: not acquired/,
    );
  });

  it("hold does not run the command when the lock is held elsewhere", async () => {
    const { client } = await setUp();
    await client.acquire({ name: "ctl-busy", ttl: ms(5000) });
    const result = await lockctl(["hold", "ctl-busy", "--", "sh", "-c", "echo ran"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
  });

  it("hold stops the command with SIGTERM and exits 3 when the lease is taken away", async () => {
    await setUp();
    const run = start([
      "hold",
      "ctl-lost",
      "--ttl",
      "1s",
      "--",
      "sh",
      "-c",
      'trap "echo got-term; exit 0" TERM; echo started; while :; do sleep 0.05; done',
    ]);
    await eventually(() => run.stdout().includes("started"), 10_000, "the command to start");
    await Promise.all(redis.map((r) => r.set(`${prefix}lock:ctl-lost`, "someone-else")));
    expect(await run.exited).toBe(3);
    expect(run.stdout()).toContain("got-term");
    expect(run.stderr()).toMatch(/the lease on "ctl-lost" was lost: .*stopping the command/);
    // The new holder's keys are untouched by the final release.
    expect(await lockValues("ctl-lost")).toEqual(["someone-else", "someone-else", "someone-else"]);
  });

  it("hold exits 3 when a majority of instances dies under it", async () => {
    await setUp();
    const run = start([
      "hold",
      "ctl-outage",
      "--ttl",
      "1s",
      "--",
      "sh",
      "-c",
      'trap "exit 0" TERM; echo started; while :; do sleep 0.05; done',
    ]);
    await eventually(() => run.stdout().includes("started"), 10_000, "the command to start");
    await servers!.kill(0);
    await servers!.kill(1);
    expect(await run.exited).toBe(3);
  });

  it("hold passes SIGTERM on to the command and still releases", async () => {
    await setUp();
    const run = start([
      "hold",
      "ctl-signal",
      "--ttl",
      "5s",
      "--",
      "sh",
      "-c",
      'trap "exit 42" TERM; echo started; while :; do sleep 0.05; done',
    ]);
    await eventually(() => run.stdout().includes("started"), 10_000, "the command to start");
    run.proc.kill("SIGTERM");
    expect(await run.exited).toBe(42);
    await lockValuesSettleTo("ctl-signal", null);
  });

  it("status shows serving and each instance, and exits 4 once a majority is down", async () => {
    const { sidecar } = await setUp();
    const ok = await lockctl(["status"]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`sidecar ${sidecar.address}: SERVING`);
    expect(ok.stdout).toContain(`admin 127.0.0.1:${sidecar.adminPort}: 3 of 3 instances reachable (quorum 2)`);
    for (const url of servers!.urls) expect(ok.stdout).toContain(`up\t${url}`);

    await servers!.kill(0);
    await servers!.kill(1);
    await eventually(() => !sidecar.health.serving, 3000, "NOT_SERVING");
    const down = await lockctl(["status", "--json"]);
    expect(down.code).toBe(4);
    expect(JSON.parse(down.stdout)).toEqual({
      address: sidecar.address,
      admin: `127.0.0.1:${sidecar.adminPort}`,
      health: "NOT_SERVING",
      status: {
        serving: false,
        quorum: 2,
        reachable: 1,
        instances: servers!.urls.map((name, i) => expect.objectContaining({ name, up: i === 2 })),
      },
    });

    const gone = await lockctl(["status"], {
      LOCK_ADDRESS: `127.0.0.1:${await freePort()}`,
      LOCK_ADMIN_ADDRESS: `127.0.0.1:${await freePort()}`,
    });
    expect(gone.code).toBe(4);
    expect(gone.stdout).toMatch(/UNREACHABLE/);
    expect(gone.stderr).toMatch(/instance states unknown/);
  });

  it("describe shows who holds a lock and who waits, as text and --json; 4 once a majority is down", async () => {
    const { client } = await setUp();
    const acquired = await lockctl(["acquire", "ctl-d", "--ttl", "1m", "--owner", "e2e owner"]);
    expect(acquired.code).toBe(0);
    const lease = JSON.parse(acquired.stdout) as { leaseId: string; fencingToken: string };
    const waiter = client.acquire({ name: "ctl-d", ttl: ms(5000), wait: ms(20_000), owner: "next" });
    waiter.catch(() => undefined);
    await eventually(async () => (await client.describe({ name: "ctl-d" })).waitingTickets === 1, 5000, "a ticket");

    const text = await lockctl(["describe", "ctl-d"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^lock "ctl-d": held by "e2e owner"\n/);
    expect(text.stdout).toContain(`  fencing token  ${lease.fencingToken}\n`);
    expect(text.stdout).toMatch(/ {2}held since {5}\d{4}-\d\d-\d\dT[\d:.]+Z \(\S+ ago\)\n/);
    expect(text.stdout).toMatch(/ {2}expires in {5}\d+(\.\d)?s unless renewed\n/);
    expect(text.stdout).toContain("  waiting        1 ticket(s) on the instances, 1 caller(s) through this sidecar\n");
    expect(text.stdout).toMatch(/ {2}instances {6}3 of 3 answered, [23] agree\n$/);

    const json = await lockctl(["describe", "ctl-d", "--json"]);
    expect(json.code).toBe(0);
    const described = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(described).toMatchObject({
      name: "ctl-d",
      held: true,
      owner: "e2e owner",
      fencingToken: lease.fencingToken,
      waitingTickets: 1,
      waitingHere: 1,
      instances: { total: 3, answered: 3 },
    });
    expect(Date.parse(described["heldSince"] as string)).toBeLessThanOrEqual(Date.now());
    expect(described["remainingTtlMs"]).toBeGreaterThan(30_000);
    expect(described["remainingTtlMs"]).toBeLessThanOrEqual(60_000);
    // Never the lease id, in either form.
    for (const out of [text.stdout, json.stdout]) expect(out).not.toContain(lease.leaseId.split(".")[0]);

    const free = await lockctl(["describe", "ctl-free", "--json"]);
    expect(JSON.parse(free.stdout)).toEqual({
      name: "ctl-free",
      held: false,
      owner: "",
      fencingToken: null,
      heldSince: null,
      heldForMs: null,
      remainingTtlMs: null,
      waitingTickets: 0,
      waitingHere: 0,
      instances: { total: 3, answered: 3, agreeing: 3 },
    });
    expect((await lockctl(["describe", "ctl-free"])).stdout).toMatch(/^lock "ctl-free": free\n/);

    await servers!.kill(0);
    await servers!.kill(1);
    const down = await lockctl(["describe", "ctl-d"]);
    expect(down.code).toBe(4);
    expect(down.stderr).toMatch(/UNAVAILABLE: lock "ctl-d": only [01] of 3 instances answered \(need 2\)/);
  });

  it("leases lists what the sidecar holds, by name, across pages, flags a kept-alive lease, and never shows lease ids", async () => {
    const { client } = await setUp();
    const plain = await client.acquire({ name: "ctl-l-b", ttl: ms(60_000), owner: "batch job" });
    const other = await client.acquire({ name: "ctl-l-a", ttl: ms(60_000) });
    const hold = start(["hold", "ctl-l-c", "--ttl", "1s", "--owner", "held by lockctl", "--", "sleep", "30"]);
    await eventually(
      async () => (await client.listLeases({})).leases.some((l) => l.name === "ctl-l-c" && l.keptAlive),
      10_000,
      "the hold's lease",
    );

    const json = await lockctl(["leases", "--json", "--page-size", "1"]);
    expect(json.code).toBe(0);
    const listed = JSON.parse(json.stdout) as { leases: Record<string, unknown>[] };
    expect(listed.leases.map((l) => [l["name"], l["owner"], l["keptAlive"]])).toEqual([
      ["ctl-l-a", "", false],
      ["ctl-l-b", "batch job", false],
      ["ctl-l-c", "held by lockctl", true],
    ]);
    expect(listed.leases[1]).toMatchObject({ fencingToken: String(plain.lease!.fencingToken), ttlMs: 60_000 });
    expect(Date.parse(listed.leases[1]!["expiresAt"] as string)).toBeGreaterThan(Date.now() + 30_000);
    expect(Date.parse(listed.leases[1]!["acquiredAt"] as string)).toBeLessThanOrEqual(Date.now());

    const table = await lockctl(["leases"]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME +OWNER +FENCING TOKEN +EXPIRES IN +KEPT ALIVE$/);
    expect(lines.slice(1).map((line) => line.split(/ {2,}/))).toEqual([
      ["ctl-l-a", "-", String(other.lease!.fencingToken), expect.stringMatching(/^\d+\.\ds$/), "no"],
      ["ctl-l-b", "batch job", String(plain.lease!.fencingToken), expect.stringMatching(/^\d+\.\ds$/), "no"],
      ["ctl-l-c", "held by lockctl", expect.stringMatching(/^\d+$/), expect.stringMatching(/^\d+ms|\d\.\ds$/), "yes"],
    ]);
    for (const out of [table.stdout, json.stdout]) {
      expect(out).not.toContain(plain.lease!.leaseId.split(".")[0]);
      expect(out).not.toContain(other.lease!.leaseId.split(".")[0]);
    }

    hold.proc.kill("SIGTERM");
    await hold.exited;
    await client.release({ name: "ctl-l-a", leaseId: other.lease!.leaseId });
    await client.release({ name: "ctl-l-b", leaseId: plain.lease!.leaseId });
    const none = await lockctl(["leases"]);
    expect(none.stdout).toBe("no leases held by this sidecar\n");
    expect(JSON.parse((await lockctl(["leases", "--json"])).stdout)).toEqual({ leases: [] });
    expect((await lockctl(["leases", "--page-size", "0"])).code).toBe(2);
  });
});
