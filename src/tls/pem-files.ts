import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import { ConfigError } from "../config/load-config.ts";
import { errorCode, errorReason } from "../util/error-text.ts";

/** A PEM file and the setting that names it, so every problem can point at the setting. */
export interface PemFile {
  path: string;
  /** As shown in messages, e.g. `LOCK_TLS_CERT / --tls-cert`. */
  setting: string;
}

/** The files of one TLS identity and trust: a certificate with its key, a CA bundle, or all three. */
export interface PemFiles {
  certificate?: PemFile;
  /** Set exactly when the certificate is. */
  privateKey?: PemFile;
  ca?: PemFile;
}

/** The bytes of those files as read; undefined for a file that is not set. */
export interface PemContents {
  certificate: Buffer | undefined;
  privateKey: Buffer | undefined;
  ca: Buffer | undefined;
}

/** Reads every set file; one that cannot be read throws a ConfigError naming its setting. */
export function readPemFiles(files: PemFiles): PemContents {
  return {
    certificate: files.certificate && readPem(files.certificate),
    privateKey: files.privateKey && readPem(files.privateKey),
    ca: files.ca && readPem(files.ca),
  };
}

/**
 * Parses each file on its own, so a problem names its setting, then checks
 * that the key belongs to the certificate. Messages never quote file contents.
 */
export function checkPemContents(contents: PemContents, files: PemFiles): void {
  const { certificate, privateKey, ca } = contents;
  if (certificate && privateKey && files.certificate && files.privateKey) {
    const certificateSetting = files.certificate.setting;
    const keySetting = files.privateKey.setting;
    const x509 = parsed(certificateSetting, "not a PEM certificate", () => new X509Certificate(certificate));
    const key = parsed(keySetting, "not a PEM private key", () => createPrivateKey(privateKey));
    if (!x509.checkPrivateKey(key)) {
      throw new ConfigError(`${keySetting}: the key does not belong to the certificate in ${certificateSetting}`);
    }
  }
  if (ca && files.ca) {
    parsed(files.ca.setting, "not a PEM CA bundle", () => {
      new X509Certificate(ca);
      createSecureContext({ ca });
    });
  }
  if (certificate && privateKey && files.certificate) {
    // Whatever else OpenSSL would refuse (chain order, key type): found now, not at the first handshake.
    parsed(files.certificate.setting, "refused by TLS", () =>
      createSecureContext({ cert: certificate, key: privateKey }),
    );
  }
}

export function samePemContents(a: PemContents, b: PemContents): boolean {
  return sameBytes(a.certificate, b.certificate) && sameBytes(a.privateKey, b.privateKey) && sameBytes(a.ca, b.ca);
}

/** A digest of the contents, so a broken set is told apart from the next one without keeping its bytes. */
export function pemDigest(contents: PemContents): string {
  const hash = createHash("sha256");
  for (const part of [contents.certificate, contents.privateKey, contents.ca]) {
    hash.update(part ?? Buffer.alloc(0)).update("\0");
  }
  return hash.digest("hex");
}

function readPem(file: PemFile): Buffer {
  try {
    return readFileSync(file.path);
  } catch (error) {
    const reason = errorCode(error) ?? errorReason(error);
    throw new ConfigError(`${file.setting}: cannot read ${JSON.stringify(file.path)} (${reason})`);
  }
}

function parsed<T>(setting: string, problem: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    // The library's reason, first line only; it never quotes the file.
    throw new ConfigError(`${setting}: ${problem} (${errorReason(error)})`);
  }
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}
