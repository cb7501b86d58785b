import { join } from "node:path";
import { status, type ServiceError } from "@grpc/grpc-js";
import { pino, type Logger } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { InstanceTlsFiles } from "../../src/tls/instance-tls.ts";
import { TestCertificates, type Authority, type Issued } from "../support/certificates.ts";
import { SecretVolume } from "../support/secret-volume.ts";
import { eventually, ms, runSidecar, testOptions, type Running } from "../support/sidecar-fixture.ts";
import { TlsRedisServers } from "../support/tls-redis-servers.ts";

const ADMIN_PASSWORD = "rotation-Pa55";

/** The instances' client certificate and CA bundle rotating on disk, as a mounted secret does. */
describe("instance TLS files rotating", () => {
  let certs: TestCertificates;
  let ca: Authority;
  let otherCa: Authority;
  let good: Issued;
  let goodToo: Issued;
  let foreign: Issued;
  let running: Running | undefined;

  beforeAll(async () => {
    certs = await TestCertificates.create();
    ca = await certs.authority("rotation-ca");
    otherCa = await certs.authority("rotation-other-ca");
    good = await certs.issue(ca, "rotation-client-1", "client");
    goodToo = await certs.issue(ca, "rotation-client-2", "client");
    foreign = await certs.issue(otherCa, "rotation-foreign-client", "client");
  });

  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  afterAll(async () => {
    await certs?.remove();
  });

  const capture = (): { lines: string[]; logger: Logger } => {
    const lines: string[] = [];
    return { lines, logger: pino({ level: "info" }, { write: (line: string) => void lines.push(line) }) };
  };
  const count = (lines: string[], msg: string): number => lines.filter((l) => l.includes(`"msg":"${msg}"`)).length;

  it("takes a changed, valid set into the same options object, and keeps the last good one over a broken rotation, logged once", async () => {
    const volume = new SecretVolume(join(certs.dir, "unit-volume"));
    await volume.write({ "ca.crt": ca.cert, "tls.crt": good.cert, "tls.key": good.key });
    const { lines, logger } = capture();
    const files = InstanceTlsFiles.load(
      {
        instanceTlsCaFile: volume.path("ca.crt"),
        instanceTlsCertFile: volume.path("tls.crt"),
        instanceTlsKeyFile: volume.path("tls.key"),
      },
      logger,
    )!;
    const options = files.options;
    expect(options.cert).toEqual(good.cert);

    files.refresh();
    expect(count(lines, "instance tls files reloaded")).toBe(0);

    await volume.write({
      "ca.crt": Buffer.concat([ca.cert, otherCa.cert]),
      "tls.crt": goodToo.cert,
      "tls.key": goodToo.key,
    });
    files.refresh();
    expect(files.options).toBe(options);
    expect(options.cert).toEqual(goodToo.cert);
    expect(options.key).toEqual(goodToo.key);
    expect(options.ca).toEqual(Buffer.concat([ca.cert, otherCa.cert]));
    expect(count(lines, "instance tls files reloaded")).toBe(1);

    // A certificate with another certificate's key: half a rotation.
    await volume.write({ "ca.crt": ca.cert, "tls.crt": good.cert, "tls.key": goodToo.key });
    files.refresh();
    files.refresh();
    expect(options.cert).toEqual(goodToo.cert);
    expect(options.ca).toEqual(Buffer.concat([ca.cert, otherCa.cert]));
    expect(count(lines, "instance tls files not reloaded: new connections keep the previous ones")).toBe(1);
    expect(lines.join("")).toContain("LOCK_INSTANCE_TLS_KEY");

    await volume.write({ "ca.crt": ca.cert, "tls.crt": good.cert, "tls.key": good.key });
    files.refresh();
    expect(options.cert).toEqual(good.cert);
    expect(count(lines, "instance tls files reloaded")).toBe(2);
    files.close();
  });

  it("a sidecar whose client certificate the instances refuse recovers once the secret rotates to one they accept", async () => {
    const servers = await TlsRedisServers.start(3, {
      server: await certs.issue(ca, "rotation-redis", "server"),
      ca,
      requireClientCertificate: true,
      adminPassword: ADMIN_PASSWORD,
    });
    try {
      const volume = new SecretVolume(join(certs.dir, "sidecar-volume"));
      await volume.write({ "tls.crt": foreign.cert, "tls.key": foreign.key });
      const { lines, logger } = capture();
      running = await runSidecar(
        testOptions({
          instances: servers.ports.map((port) => `rediss://:${ADMIN_PASSWORD}@127.0.0.1:${port}`),
          instanceTlsCaFile: ca.certFile,
          instanceTlsCertFile: volume.path("tls.crt"),
          instanceTlsKeyFile: volume.path("tls.key"),
          tlsRefreshIntervalMs: 200,
        }),
        { logger },
      );
      const refused = await running.client.acquire({ name: "rotated", ttl: ms(2000) }).then(
        () => undefined,
        (e: ServiceError) => e,
      );
      expect(refused?.code).toBe(status.UNAVAILABLE);
      expect(running.sidecar.health.serving).toBe(false);

      await volume.write({ "tls.crt": good.cert, "tls.key": good.key });
      await eventually(() => count(lines, "instance tls files reloaded") === 1, 5000, "the rotation noticed");
      await eventually(() => running!.sidecar.health.serving, 15_000, "a quorum over the new client certificate");
      const granted = await running.client.acquire({ name: "rotated", ttl: ms(2000) });
      expect(granted.acquired).toBe(true);
      expect((await running.client.release({ name: "rotated", leaseId: granted.lease!.leaseId })).released).toBe(true);
    } finally {
      await running?.stop();
      running = undefined;
      await servers.stopAll();
    }
  });
});
