import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { SidecarOptions } from "../../src/config/options.ts";
import { startSidecar, type Sidecar } from "../../src/sidecar.ts";
import { TestCertificates, type Authority, type Issued } from "../support/certificates.ts";
import { testOptions } from "../support/sidecar-fixture.ts";

const execFileAsync = promisify(execFile);

/** lockctl as a separate process against a sidecar that serves its API over TLS and mutual TLS. */
describe("lockctl over TLS", () => {
  let certs: TestCertificates;
  let ca: Authority;
  let otherCa: Authority;
  let server: Issued;
  let client: Issued;
  let sidecar: Sidecar | undefined;

  beforeAll(async () => {
    certs = await TestCertificates.create();
    ca = await certs.authority("ctl-api-ca");
    otherCa = await certs.authority("ctl-other-ca");
    server = await certs.issue(ca, "ctl-server", "server");
    client = await certs.issue(ca, "ctl-client", "client");
  });

  afterEach(async () => {
    await sidecar?.stop();
    sidecar = undefined;
  });

  afterAll(async () => {
    await certs?.remove();
  });

  const start = async (overrides: Partial<SidecarOptions>): Promise<Sidecar> =>
    (sidecar = await startSidecar(
      testOptions({ instances: [], tlsCertFile: server.certFile, tlsKeyFile: server.keyFile, ...overrides }),
    ));

  async function lockctl(
    args: string[],
    env: Record<string, string> = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, ["src/cli/lockctl.ts", ...args], {
        env: { ...process.env, LOCK_ADDRESS: sidecar?.address ?? "", ...env },
        timeout: 30_000,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string };
      return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
    }
  }

  it("acquires with --tls-ca, and fails as unavailable without TLS or with a CA that did not sign the sidecar", async () => {
    await start({});
    const ok = await lockctl(["acquire", "ctl-tls", "--ttl", "5s", "--tls-ca", ca.certFile]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ name: "ctl-tls" });

    const plain = await lockctl(["acquire", "ctl-tls-plain"]);
    expect(plain.code).toBe(4);
    expect(plain.stderr).toMatch(/UNAVAILABLE/);
    const untrusted = await lockctl(["acquire", "ctl-tls-untrusted", "--tls-ca", otherCa.certFile]);
    expect(untrusted.code).toBe(4);
  });

  it("presents a client certificate to a sidecar that requires one, with flags or LOCK_CLIENT_TLS_* variables", async () => {
    await start({ tlsClientCaFile: ca.certFile });
    const without = await lockctl(["acquire", "ctl-mtls-none", "--tls-ca", ca.certFile]);
    expect(without.code).toBe(4);

    const withFlags = await lockctl([
      "acquire",
      "ctl-mtls",
      "--tls-ca",
      ca.certFile,
      "--tls-cert",
      client.certFile,
      "--tls-key",
      client.keyFile,
    ]);
    expect(withFlags.code).toBe(0);
    const lease = JSON.parse(withFlags.stdout) as { leaseId: string };

    const fromEnv = {
      LOCK_CLIENT_TLS_CA: ca.certFile,
      LOCK_CLIENT_TLS_CERT: client.certFile,
      LOCK_CLIENT_TLS_KEY: client.keyFile,
    };
    const released = await lockctl(["release", "ctl-mtls", lease.leaseId], fromEnv);
    expect(released.code).toBe(0);
    expect(JSON.parse(released.stdout)).toEqual({ released: true });
    // status speaks TLS too (its health check; the admin listener is plain HTTP).
    const status = await lockctl(["status", "--json", "--admin-address", `127.0.0.1:${sidecar!.adminPort}`], fromEnv);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ health: "SERVING" });
  });

  it("checks the sidecar's certificate for --tls-server-name instead of the address's host", async () => {
    await start({});
    const named = await lockctl(["acquire", "ctl-sni", "--tls-ca", ca.certFile, "--tls-server-name", "localhost"]);
    expect(named.code).toBe(0);
    const wrong = await lockctl([
      "acquire",
      "ctl-sni-wrong",
      "--tls-ca",
      ca.certFile,
      "--tls-server-name",
      "elsewhere.example",
    ]);
    expect(wrong.code).toBe(4);
  });

  it("refuses a client certificate without its key, an unreadable file and files that are not a usable certificate, as usage errors naming the options", async () => {
    await start({});
    const half = await lockctl(["acquire", "ctl-half", "--tls-cert", client.certFile]);
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/--tls-cert needs its pair.*--tls-key/);
    const missing = await lockctl(["acquire", "ctl-missing"], { LOCK_CLIENT_TLS_CA: `${certs.dir}/nope.crt` });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/LOCK_CLIENT_TLS_CA: cannot read ".*nope\.crt" \(ENOENT\)/);
    // Files that read fine but are not a matching certificate and key.
    const mismatched = await lockctl([
      "acquire",
      "ctl-mismatch",
      "--tls-ca",
      ca.certFile,
      "--tls-cert",
      client.certFile,
      "--tls-key",
      server.keyFile,
    ]);
    expect(mismatched.code).toBe(2);
    expect(mismatched.stderr).toMatch(/^lockctl: --tls-ca, --tls-cert, --tls-key: not usable for TLS \(/);
    const notPem = await lockctl(["acquire", "ctl-not-pem", "--tls-ca", client.keyFile]);
    expect(notPem.code).toBe(2);
    expect(notPem.stderr).toMatch(/^lockctl: --tls-ca: not a PEM CA bundle \(/);
  });
});
