import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { connect } from "node:tls";
import { ChannelCredentials, status, type ServiceError } from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { SidecarOptions } from "../../src/config/options.ts";
import { LockClient } from "../../src/client/lock-client.ts";
import { startSidecar, type Sidecar } from "../../src/sidecar.ts";
import { TestCertificates, type Authority, type Issued } from "../support/certificates.ts";
import { SecretVolume } from "../support/secret-volume.ts";
import { eventually, ms, testOptions } from "../support/sidecar-fixture.ts";

/**
 * The gRPC API over TLS and mutual TLS, on the embedded store (the
 * transport is what is under test): who may connect, and certificate
 * rotation on disk reaching new connections within the refresh interval.
 */
describe("gRPC API over TLS", () => {
  let certs: TestCertificates;
  let ca: Authority;
  let otherCa: Authority;
  let server1: Issued;
  let server2: Issued;
  let client: Issued;
  let stranger: Issued;
  let sidecar: Sidecar | undefined;
  const clients: LockClient[] = [];

  beforeAll(async () => {
    certs = await TestCertificates.create();
    ca = await certs.authority("api-ca");
    otherCa = await certs.authority("other-ca");
    server1 = await certs.issue(ca, "server-1", "server");
    server2 = await certs.issue(ca, "server-2", "server");
    client = await certs.issue(ca, "good-client", "client");
    stranger = await certs.issue(otherCa, "stranger-client", "client");
  });

  afterEach(async () => {
    clients.splice(0).forEach((c) => c.close());
    await sidecar?.stop();
    sidecar = undefined;
  });

  afterAll(async () => {
    await certs?.remove();
  });

  const start = async (overrides: Partial<SidecarOptions>, lines?: string[]): Promise<Sidecar> => {
    const logger = lines ? pino({ level: "info" }, { write: (line: string) => void lines.push(line) }) : undefined;
    sidecar = await startSidecar(testOptions({ instances: [], ...overrides }), logger ? { logger } : {});
    return sidecar;
  };

  const clientOf = (credentials: ChannelCredentials): LockClient => {
    const c = new LockClient(sidecar!.address, credentials);
    clients.push(c);
    return c;
  };

  /** An Acquire of a fresh name: its status code (OK when it was granted). */
  const acquireCode = async (c: LockClient, name: string): Promise<number> => {
    try {
      const response = await c.acquire({ name, ttl: ms(2000) }, { deadline: Date.now() + 10_000 });
      expect(response.acquired).toBe(true);
      return status.OK;
    } catch (error) {
      return (error as ServiceError).code;
    }
  };

  it("serves a client that trusts its CA, and refuses plaintext and clients that do not trust it", async () => {
    const lines: string[] = [];
    await start({ tlsCertFile: server1.certFile, tlsKeyFile: server1.keyFile }, lines);
    expect(await acquireCode(clientOf(ChannelCredentials.createSsl(ca.cert)), "tls-ok")).toBe(status.OK);
    // A plaintext HTTP/2 client meets a TLS listener: no call gets through.
    expect(await acquireCode(clientOf(ChannelCredentials.createInsecure()), "tls-plain")).toBe(status.UNAVAILABLE);
    // The server's certificate does not chain to what this client trusts.
    expect(await acquireCode(clientOf(ChannelCredentials.createSsl(otherCa.cert)), "tls-untrusted")).toBe(
      status.UNAVAILABLE,
    );
    // Without a client CA no client certificate is asked for, but one offered does no harm.
    expect(
      await acquireCode(clientOf(ChannelCredentials.createSsl(ca.cert, client.key, client.cert)), "tls-with-cert"),
    ).toBe(status.OK);
    const listening = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((r) => r["msg"] === "sidecar listening");
    expect(listening?.["tls"]).toBe("tls");
  });

  it("with a client CA, serves only clients whose certificate it signed", async () => {
    await start({ tlsCertFile: server1.certFile, tlsKeyFile: server1.keyFile, tlsClientCaFile: ca.certFile });
    expect(await acquireCode(clientOf(ChannelCredentials.createSsl(ca.cert)), "mtls-no-cert")).toBe(status.UNAVAILABLE);
    expect(
      await acquireCode(clientOf(ChannelCredentials.createSsl(ca.cert, stranger.key, stranger.cert)), "mtls-stranger"),
    ).toBe(status.UNAVAILABLE);
    expect(await acquireCode(clientOf(ChannelCredentials.createInsecure()), "mtls-plain")).toBe(status.UNAVAILABLE);
    expect(await acquireCode(clientOf(ChannelCredentials.createSsl(ca.cert, client.key, client.cert)), "mtls-ok")).toBe(
      status.OK,
    );
  });

  it("serves new connections with the certificate swapped in on disk, and keeps the last good one when the new files are broken", async () => {
    const volume = new SecretVolume(join(certs.dir, "secret-volume"));
    await volume.write({ "tls.crt": server1.cert, "tls.key": server1.key, "ca.crt": ca.cert });
    const lines: string[] = [];
    const refreshMs = 250;
    await start(
      {
        tlsCertFile: volume.path("tls.crt"),
        tlsKeyFile: volume.path("tls.key"),
        tlsClientCaFile: volume.path("ca.crt"),
        tlsRefreshIntervalMs: refreshMs,
      },
      lines,
    );
    const fingerprintOf = (issued: Issued) => new X509Certificate(issued.cert).fingerprint256;
    expect(await presentedFingerprint(sidecar!.port, ca, client)).toBe(fingerprintOf(server1));
    const early = clientOf(ChannelCredentials.createSsl(ca.cert, client.key, client.cert));
    expect(await acquireCode(early, "rotate-before")).toBe(status.OK);

    await volume.write({ "tls.crt": server2.cert, "tls.key": server2.key, "ca.crt": ca.cert });
    const swappedAt = Date.now();
    await eventually(
      async () => (await presentedFingerprint(sidecar!.port, ca, client)) === fingerprintOf(server2),
      10_000,
      "the new certificate",
    );
    // Polling every interval: the swap is seen within about one interval; the bound is generous for a loaded machine.
    expect(Date.now() - swappedAt).toBeLessThan(refreshMs * 20);
    expect(
      await acquireCode(clientOf(ChannelCredentials.createSsl(ca.cert, client.key, client.cert)), "rotate-after"),
    ).toBe(status.OK);
    // The connection made before the swap goes on working.
    expect(await acquireCode(early, "rotate-early-channel")).toBe(status.OK);
    expect(lines.some((l) => l.includes('"tls certificate reloaded"') && l.includes("server-2"))).toBe(true);

    // A broken rotation: a key that does not match the certificate. New connections keep server-2.
    await volume.write({ "tls.crt": server1.cert, "tls.key": server2.key, "ca.crt": ca.cert });
    await eventually(() => lines.some((l) => l.includes("tls files not reloaded")), 10_000, "the refusal to reload");
    expect(await presentedFingerprint(sidecar!.port, ca, client)).toBe(fingerprintOf(server2));
    expect(
      await acquireCode(clientOf(ChannelCredentials.createSsl(ca.cert, client.key, client.cert)), "rotate-broken"),
    ).toBe(status.OK);
    const warning = lines.find((l) => l.includes("tls files not reloaded"))!;
    expect(warning).toContain("LOCK_TLS_KEY");
    // The log never carries key material.
    const all = lines.join("");
    for (const key of [server1.key, server2.key, client.key]) expect(all).not.toContain(key.toString().split("\n")[1]!);
  });
});

/** The SHA-256 fingerprint of the certificate a new TLS connection to 127.0.0.1:port is shown. */
function presentedFingerprint(port: number, ca: Authority, client: Issued): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: "127.0.0.1", port, ca: ca.cert, cert: client.cert, key: client.key, ALPNProtocols: ["h2"] },
      () => {
        const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? "";
        socket.destroy();
        resolve(fingerprint);
      },
    );
    socket.once("error", reject);
  });
}
