import { readFileSync } from "node:fs";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { createSecureContext, type ConnectionOptions } from "node:tls";
import { ConfigError } from "../config/load-config.ts";
import type { SidecarOptions } from "../config/options.ts";

export type InstanceTlsOptions = Pick<SidecarOptions, "instanceTlsCaFile" | "instanceTlsCertFile" | "instanceTlsKeyFile">;

/**
 * The TLS options for rediss:// instances: the CA their certificates must
 * chain to (LOCK_INSTANCE_TLS_CA; unset: Node's default CAs) and the client
 * certificate for instances that require one (LOCK_INSTANCE_TLS_CERT and
 * LOCK_INSTANCE_TLS_KEY). Read once at start-up; a file that does not parse
 * stops start-up naming its setting. Verification is never turned off.
 * Undefined when none is set.
 */
export function instanceTlsOptions(options: InstanceTlsOptions): ConnectionOptions | undefined {
  const { instanceTlsCaFile, instanceTlsCertFile, instanceTlsKeyFile } = options;
  if (instanceTlsCaFile === "" && instanceTlsCertFile === "") return undefined;
  const tls: ConnectionOptions = {};
  if (instanceTlsCaFile !== "") {
    const ca = read(instanceTlsCaFile, "LOCK_INSTANCE_TLS_CA / --instance-tls-ca");
    check("LOCK_INSTANCE_TLS_CA / --instance-tls-ca", "not a PEM CA bundle", () => {
      new X509Certificate(ca);
      createSecureContext({ ca });
    });
    tls.ca = ca;
  }
  if (instanceTlsCertFile !== "") {
    const cert = read(instanceTlsCertFile, "LOCK_INSTANCE_TLS_CERT / --instance-tls-cert");
    const key = read(instanceTlsKeyFile, "LOCK_INSTANCE_TLS_KEY / --instance-tls-key");
    const x509 = check("LOCK_INSTANCE_TLS_CERT / --instance-tls-cert", "not a PEM certificate", () => new X509Certificate(cert));
    const privateKey = check("LOCK_INSTANCE_TLS_KEY / --instance-tls-key", "not a PEM private key", () => createPrivateKey(key));
    if (!x509.checkPrivateKey(privateKey)) {
      throw new ConfigError("LOCK_INSTANCE_TLS_KEY / --instance-tls-key: the key does not belong to the certificate in LOCK_INSTANCE_TLS_CERT");
    }
    tls.cert = cert;
    tls.key = key;
  }
  return tls;
}

function read(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`${setting}: cannot read ${JSON.stringify(path)} (${error instanceof Error && "code" in error ? String(error.code) : "unreadable"})`);
  }
}

function check<T>(setting: string, problem: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    // The library's reason, first line only; it never quotes the file.
    throw new ConfigError(`${setting}: ${problem} (${(error instanceof Error ? error.message : String(error)).split("\n")[0]!.slice(0, 200)})`);
  }
}
