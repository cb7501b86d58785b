import { readFileSync } from "node:fs";
import { status, type ServiceError } from "@grpc/grpc-js";
import { pino, type Logger } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ACQUIRE, EXTEND, RAISE_FENCE, RELEASE, WITHDRAW_TICKET } from "../../src/instances/lua-scripts.ts";
import { TestCertificates, type Authority, type Issued } from "../support/certificates.ts";
import { eventually, ms, runSidecar, testOptions, type Running } from "../support/sidecar-fixture.ts";
import { TlsRedisServers } from "../support/tls-redis-servers.ts";

const ADMIN_PASSWORD = "admin-Pa55-never-in-logs";
const SIDECAR_PASSWORD = "acl-Pa55-never-in-logs";
const WRONG_PASSWORD = "wrong-Pa55-never-in-logs";
const ACL_USER = "redlock-sidecar";

/**
 * The minimal ACL as docs/security.md documents it (the line starting with
 * `ACL SETUSER redlock-sidecar`): the test uses that very line, so the
 * documentation cannot drift from what was proven to work.
 */
function documentedAclRules(password: string): string[] {
  const doc = readFileSync(new URL("../../docs/security.md", import.meta.url), "utf8");
  const line = doc.split("\n").find((l) => l.startsWith(`ACL SETUSER ${ACL_USER} `));
  if (!line) throw new Error(`docs/security.md has no "ACL SETUSER ${ACL_USER}" line`);
  return line
    .trim()
    .split(/\s+/)
    .slice(3)
    .map((rule) => (rule === ">CHANGE-ME" ? `>${password}` : rule));
}

/** Instances over TLS with AUTH: rediss://, instance mTLS, an ACL user with only what the sidecar needs. */
describe("instances over TLS with AUTH", () => {
  let certs: TestCertificates;
  let ca: Authority;
  let otherCa: Authority;
  let redisServer: Issued;
  let sidecarClient: Issued;
  let servers: TlsRedisServers;
  let running: Running | undefined;

  beforeAll(async () => {
    certs = await TestCertificates.create();
    ca = await certs.authority("instance-ca");
    otherCa = await certs.authority("instance-other-ca");
    redisServer = await certs.issue(ca, "redis-server", "server");
    sidecarClient = await certs.issue(ca, "sidecar-client", "client");
    servers = await TlsRedisServers.start(3, {
      server: redisServer,
      ca,
      requireClientCertificate: true,
      adminPassword: ADMIN_PASSWORD,
    });
    const rules = documentedAclRules(SIDECAR_PASSWORD);
    await Promise.all(
      servers.ports.map((_, i) => servers.admin(i, sidecarClient).call("ACL", "SETUSER", ACL_USER, ...rules)),
    );
  });

  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  afterAll(async () => {
    await servers?.stopAll();
    await certs?.remove();
  });

  const capture = (): { lines: string[]; logger: Logger } => {
    const lines: string[] = [];
    return { lines, logger: pino({ level: "trace" }, { write: (line: string) => void lines.push(line) }) };
  };

  /**
   * The sidecar as the documented ACL user (whose ACL covers the default key
   * prefix) over rediss://, trusting `caFile` and presenting the client
   * certificate unless told not to.
   */
  const aclOptions = (password: string, caFile = ca.certFile, clientCertificate = true) =>
    testOptions({
      instances: servers.urls(ACL_USER, password),
      keyPrefix: "redlock-sidecar:",
      instanceTlsCaFile: caFile,
      instanceTlsCertFile: clientCertificate ? sidecarClient.certFile : "",
      instanceTlsKeyFile: clientCertificate ? sidecarClient.keyFile : "",
    });

  it("acquires, contends, extends, keeps alive and releases as the documented ACL user over rediss:// with client certificates", async () => {
    const { lines, logger } = capture();
    const options = aclOptions(SIDECAR_PASSWORD);
    running = await runSidecar(options, { logger });
    await eventually(() => running!.sidecar.health.serving, 10_000, "quorum over TLS");
    const { client } = running;
    const admins = servers.ports.map((_, i) => servers.admin(i, sidecarClient));

    const first = await client.acquire({ name: "tls-lock", ttl: ms(3000) });
    expect(first.acquired).toBe(true);
    const leaseId = first.lease!.leaseId;
    const secret = leaseId.slice(0, leaseId.indexOf("."));
    // The key holds the secret, then the holder (grant time and owner).
    for (const admin of admins) expect((await admin.get("redlock-sidecar:lock:tls-lock"))?.split(" ")[0]).toBe(secret);

    // Contention: a waiter queues (ticket hash) and wakes on the release notice (pub/sub).
    const waiter = client.acquire({ name: "tls-lock", ttl: ms(3000), wait: ms(4000) });
    await new Promise((r) => setTimeout(r, 150));
    const extended = await client.extend({ name: "tls-lock", leaseId, ttl: ms(4000) });
    expect(extended.lease?.leaseId).toBe(leaseId);
    const stream = client.keepAlive({ name: "tls-lock", leaseId, ttl: ms(600) });
    const renewals: unknown[] = [];
    stream.on("data", (m) => renewals.push(m));
    stream.on("error", () => undefined);
    await eventually(() => renewals.length >= 2, 5000, "KeepAlive renewals over TLS");
    stream.cancel();
    const second = await waiter;
    expect(second.acquired).toBe(true);
    expect(BigInt(second.lease!.fencingToken)).toBeGreaterThan(BigInt(first.lease!.fencingToken));
    expect((await client.release({ name: "tls-lock", leaseId: second.lease!.leaseId })).released).toBe(true);
    // Released once a majority deleted it; the slowest instance follows a moment later.
    await eventually(
      async () =>
        (await Promise.all(admins.map((admin) => admin.exists("redlock-sidecar:lock:tls-lock")))).every((n) => n === 0),
      2000,
      "key deleted everywhere",
    );

    // The ACL is enforced: the same user cannot touch keys outside its prefix.
    const outside = await admins[0]!.call("ACL", "DRYRUN", ACL_USER, "SET", "other-tenant:lock:x", "1");
    expect(String(outside)).toMatch(/no permissions/);

    await running.stop();
    running = undefined;
    const all = lines.join("");
    expect(all).toContain("sidecar listening");
    expect(all).toContain("shut down");
    expect(all).toContain(`rediss://127.0.0.1:${servers.ports[0]}`);
    expect(all).not.toContain(SIDECAR_PASSWORD);
    expect(all).not.toContain(ADMIN_PASSWORD);
    expect(all).not.toContain(secret);
  });

  it("a password alone (requirepass, the default user) works over rediss:// too", async () => {
    const { lines, logger } = capture();
    const urls = servers.ports.map((port) => `rediss://:${ADMIN_PASSWORD}@127.0.0.1:${port}`);
    const options = testOptions({
      instances: urls,
      instanceTlsCaFile: ca.certFile,
      instanceTlsCertFile: sidecarClient.certFile,
      instanceTlsKeyFile: sidecarClient.keyFile,
    });
    running = await runSidecar(options, { logger });
    const granted = await running.client.acquire({ name: "tls-requirepass", ttl: ms(2000) });
    expect(granted.acquired).toBe(true);
    expect((await running.client.release({ name: "tls-requirepass", leaseId: granted.lease!.leaseId })).released).toBe(
      true,
    );
    await running.stop();
    running = undefined;
    expect(lines.join("")).not.toContain(ADMIN_PASSWORD);
  });

  it("a wrong password gives UNAVAILABLE and NOT_SERVING, not a crash, and is never logged", async () => {
    const { lines, logger } = capture();
    const options = aclOptions(WRONG_PASSWORD);
    running = await runSidecar(options, { logger });
    const { client } = running;
    const refused = await client.acquire({ name: "tls-wrong-pass", ttl: ms(1000) }).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    expect(refused?.code).toBe(status.UNAVAILABLE);
    await eventually(() => lines.some((l) => l.includes('"instance down"')), 10_000, "instance down lines");
    expect(running.sidecar.health.serving).toBe(false);
    // Still serving calls, and still answering them the same way.
    const again = await client.release({ name: "tls-wrong-pass", leaseId: `${"a".repeat(27)}.1` }).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    expect(again?.code).toBe(status.UNAVAILABLE);
    await running.stop();
    running = undefined;
    const all = lines.join("");
    expect(all).toContain("shut down");
    expect(all).not.toContain(WRONG_PASSWORD);
    expect(all).not.toContain(SIDECAR_PASSWORD);
  });

  it("an instance whose certificate does not chain to LOCK_INSTANCE_TLS_CA is not used", async () => {
    const options = aclOptions(SIDECAR_PASSWORD, otherCa.certFile);
    running = await runSidecar(options);
    const refused = await running.client.acquire({ name: "tls-wrong-ca", ttl: ms(1000) }).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    expect(refused?.code).toBe(status.UNAVAILABLE);
  });

  it("an instance that requires a client certificate refuses a sidecar without one", async () => {
    const options = aclOptions(SIDECAR_PASSWORD, ca.certFile, false);
    running = await runSidecar(options);
    const refused = await running.client.acquire({ name: "tls-no-client-cert", ttl: ms(1000) }).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    expect(refused?.code).toBe(status.UNAVAILABLE);
  });

  it("the documented ACL allows every command the Lua scripts call", () => {
    const allowed = new Set(
      documentedAclRules("x")
        .filter((r) => r.startsWith("+"))
        .map((r) => r.slice(1).toLowerCase()),
    );
    const called = new Set<string>();
    for (const script of [ACQUIRE, EXTEND, RAISE_FENCE, RELEASE, WITHDRAW_TICKET]) {
      for (const match of script.source.matchAll(/redis\.p?call\(\s*['"]([A-Za-z]+)['"]/g))
        called.add(match[1]!.toLowerCase());
    }
    expect(called.size).toBeGreaterThan(5);
    expect([...called].filter((command) => !allowed.has(command))).toEqual([]);
  });
});
