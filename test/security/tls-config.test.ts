import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/load-config.ts";
import { startSidecar } from "../../src/sidecar.ts";
import { TestCertificates, type Authority, type Issued } from "../support/certificates.ts";
import { testOptions } from "../support/sidecar-fixture.ts";

/** TLS settings: half-done or broken set-ups stop start-up with a message naming the setting. */
describe("TLS settings", () => {
  let certs: TestCertificates;
  let ca: Authority;
  let server: Issued;
  let other: Issued;
  let garbage: string;

  beforeAll(async () => {
    certs = await TestCertificates.create();
    ca = await certs.authority("config-ca");
    server = await certs.issue(ca, "config-server", "server");
    other = await certs.issue(ca, "config-other", "server");
    garbage = join(certs.dir, "garbage.pem");
    await writeFile(garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
  });

  afterAll(async () => {
    await certs?.remove();
  });

  const configError = (env: Record<string, string>, argv: string[] = []): string => {
    try {
      loadConfig(env, argv);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error("expected a ConfigError");
  };

  it("reads the file settings from env and flags", () => {
    const options = loadConfig({ LOCK_TLS_CERT: server.certFile }, [
      "--tls-key",
      server.keyFile,
      "--tls-client-ca",
      ca.certFile,
      "--tls-refresh-interval",
      "5s",
    ]);
    expect(options).toMatchObject({
      tlsCertFile: server.certFile,
      tlsKeyFile: server.keyFile,
      tlsClientCaFile: ca.certFile,
      tlsRefreshIntervalMs: 5000,
    });
    expect(loadConfig({}, [])).toMatchObject({
      tlsCertFile: "",
      tlsKeyFile: "",
      tlsClientCaFile: "",
      instanceTlsCaFile: "",
    });
  });

  it("a missing file names its setting", () => {
    const message = configError({ LOCK_TLS_CERT: join(certs.dir, "nope.crt"), LOCK_TLS_KEY: server.keyFile });
    expect(message).toContain("LOCK_TLS_CERT");
    expect(message).toContain("ENOENT");
    expect(configError({}, ["--tls-client-ca", certs.dir])).toContain("is not a file");
  });

  it("certificate and key go together; a client CA needs them", () => {
    const message = configError({ LOCK_TLS_CERT: server.certFile });
    expect(message).toContain("LOCK_TLS_CERT");
    expect(message).toContain("LOCK_TLS_KEY");
    expect(configError({ LOCK_TLS_KEY: server.keyFile })).toContain("must be set together");
    expect(configError({ LOCK_TLS_CLIENT_CA: ca.certFile })).toContain("LOCK_TLS_CLIENT_CA");
    expect(
      configError({
        LOCK_INSTANCE_TLS_CERT: server.certFile,
        LOCK_INSTANCE_TLS_CA: ca.certFile,
        LOCK_INSTANCES: "rediss://127.0.0.1:1",
      }),
    ).toContain("LOCK_INSTANCE_TLS_KEY");
  });

  it("instance TLS files without any rediss:// instance are refused, not silently unused", () => {
    const message = configError({
      LOCK_INSTANCE_TLS_CA: ca.certFile,
      LOCK_INSTANCES: "redis://127.0.0.1:1,redis://127.0.0.1:2",
    });
    expect(message).toContain("LOCK_INSTANCE_TLS_CA");
    expect(message).toContain("rediss://");
    expect(
      loadConfig({ LOCK_INSTANCE_TLS_CA: ca.certFile, LOCK_INSTANCES: "rediss://127.0.0.1:1" }, []).instanceTlsCaFile,
    ).toBe(ca.certFile);
  });

  it.each([
    ["a certificate that is not PEM", () => ({ tlsCertFile: garbage, tlsKeyFile: server.keyFile }), "LOCK_TLS_CERT"],
    ["a key that is not PEM", () => ({ tlsCertFile: server.certFile, tlsKeyFile: garbage }), "LOCK_TLS_KEY"],
    [
      "a key of another certificate",
      () => ({ tlsCertFile: server.certFile, tlsKeyFile: other.keyFile }),
      "LOCK_TLS_KEY",
    ],
    [
      "a client CA that is not PEM",
      () => ({ tlsCertFile: server.certFile, tlsKeyFile: server.keyFile, tlsClientCaFile: garbage }),
      "LOCK_TLS_CLIENT_CA",
    ],
    [
      "an instance CA that is not PEM",
      () => ({ instances: ["rediss://127.0.0.1:1"], instanceTlsCaFile: garbage }),
      "LOCK_INSTANCE_TLS_CA",
    ],
    [
      "an instance key of another certificate",
      () => ({
        instances: ["rediss://127.0.0.1:1"],
        instanceTlsCertFile: server.certFile,
        instanceTlsKeyFile: other.keyFile,
      }),
      "LOCK_INSTANCE_TLS_KEY",
    ],
  ])("start-up stops on %s, naming the setting", async (_what, overrides, setting) => {
    const failure = await startSidecar(testOptions(overrides())).then(
      (sidecar) => sidecar.stop().then(() => undefined),
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toContain(setting);
    // Never the file's contents.
    expect((failure as Error).message).not.toContain("not base64");
  });
});
