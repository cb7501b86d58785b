import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { createSecureContext } from "node:tls";
import type { experimental } from "@grpc/grpc-js";
import { ConfigError } from "../config/load-config.ts";
import { certificateSummary } from "../util/certificate-summary.ts";
import { errorCode, errorReason } from "../util/error-text.ts";
import type { Logger } from "../log/logger.ts";

/** A PEM file and the setting that names it, so every problem can point at the setting. */
export interface PemFile {
  path: string;
  /** As shown in messages, e.g. `LOCK_TLS_CERT / --tls-cert`. */
  setting: string;
}

export interface CertificateFilePaths {
  certificate: PemFile;
  privateKey: PemFile;
  /** CA bundle client certificates must chain to (mutual TLS). */
  ca?: PemFile;
}

interface Contents {
  certificate: Buffer;
  privateKey: Buffer;
  ca: Buffer | undefined;
}

/**
 * A certificate, its key and optionally a CA bundle, read from files and read
 * again every `refreshIntervalMs`, for grpc-js' certificate-provider server
 * credentials. It differs from grpc-js' FileWatcherCertificateProvider in two
 * ways that matter for a lock service: a set of files is published only once
 * it parses and the key matches the certificate, so a half-written rotation
 * (or a certificate read just before its key was swapped) keeps the last good
 * set serving instead of refusing every new connection; and a problem is
 * logged naming the setting.
 *
 * Polling, not fs.watch: mounted Kubernetes secrets rotate by swapping a
 * symlink (`..data`) to a new directory, which inotify on the old files never
 * reports; reading a few small files once per interval always sees it.
 */
export class CertificateFiles implements experimental.CertificateProvider {
  readonly #paths: CertificateFilePaths;
  readonly #refreshIntervalMs: number;
  readonly #logger: Logger;
  #current: Contents;
  /** Digest of the last rejected set, so a broken rotation is logged once, not every interval. */
  #lastRejected = "";
  #timer: NodeJS.Timeout | undefined;
  #reading = false;
  readonly #identityListeners = new Set<experimental.IdentityCertificateUpdateListener>();
  readonly #caListeners = new Set<experimental.CaCertificateUpdateListener>();

  /** Reads and checks the files now: a problem stops start-up with a ConfigError naming the setting. */
  constructor(paths: CertificateFilePaths, refreshIntervalMs: number, logger: Logger) {
    this.#paths = paths;
    this.#refreshIntervalMs = refreshIntervalMs;
    this.#logger = logger;
    const contents: Contents = {
      certificate: readOrThrow(paths.certificate),
      privateKey: readOrThrow(paths.privateKey),
      ca: paths.ca ? readOrThrow(paths.ca) : undefined,
    };
    this.#current = checked(contents, paths);
  }

  /** Subject, expiry and SHA-256 fingerprint of the certificate now served (for logs and tests). */
  describe(): { subject: string; validTo: string; fingerprint256: string } {
    return certificateSummary(this.#current.certificate);
  }

  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.#identityListeners.add(listener);
    this.#startPolling();
    // Later, never now: grpc-js registers its own watcher only after adding this listener.
    process.nextTick(() => {
      if (this.#identityListeners.has(listener)) listener(this.#identity());
    });
  }

  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.#identityListeners.delete(listener);
    this.#maybeStopPolling();
  }

  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.#caListeners.add(listener);
    this.#startPolling();
    process.nextTick(() => {
      if (this.#caListeners.has(listener)) listener(this.#caUpdate());
    });
  }

  removeCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.#caListeners.delete(listener);
    this.#maybeStopPolling();
  }

  /** Stops polling; listeners get nothing more. */
  close(): void {
    this.#identityListeners.clear();
    this.#caListeners.clear();
    this.#maybeStopPolling();
  }

  /** Reads the files once and publishes them if they changed and are valid. Exposed for tests. */
  async refresh(): Promise<void> {
    if (this.#reading) return;
    this.#reading = true;
    try {
      const { certificate, privateKey, ca } = this.#paths;
      let next: Contents;
      try {
        next = {
          certificate: await readFile(certificate.path),
          privateKey: await readFile(privateKey.path),
          ca: ca ? await readFile(ca.path) : undefined,
        };
      } catch (error) {
        this.#reject(`cannot read a TLS file (${fileError(error)})`, "unreadable");
        return;
      }
      if (sameContents(next, this.#current)) return;
      const digest = digestOf(next);
      try {
        checked(next, this.#paths);
      } catch (error) {
        this.#reject(error instanceof Error ? error.message : String(error), digest);
        return;
      }
      this.#current = next;
      this.#lastRejected = "";
      this.#logger.info(this.describe(), "tls certificate reloaded");
      const identity = this.#identity();
      for (const listener of this.#identityListeners) listener(identity);
      const caUpdate = this.#caUpdate();
      for (const listener of this.#caListeners) listener(caUpdate);
    } finally {
      this.#reading = false;
    }
  }

  #reject(problem: string, digest: string): void {
    if (digest === this.#lastRejected) return;
    this.#lastRejected = digest;
    this.#logger.warn({ problem }, "tls files not reloaded: still serving the previous certificate");
  }

  #identity(): experimental.IdentityCertificateUpdate {
    return { certificate: this.#current.certificate, privateKey: this.#current.privateKey };
  }

  #caUpdate(): experimental.CaCertificateUpdate | null {
    return this.#current.ca ? { caCertificate: this.#current.ca } : null;
  }

  #startPolling(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.refresh(), this.#refreshIntervalMs);
    // Background work: it must not keep the process alive on its own.
    this.#timer.unref();
  }

  #maybeStopPolling(): void {
    if (this.#identityListeners.size > 0 || this.#caListeners.size > 0 || !this.#timer) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

function readOrThrow(file: PemFile): Buffer {
  try {
    return readFileSync(file.path);
  } catch (error) {
    throw new ConfigError(`${file.setting}: cannot read ${JSON.stringify(file.path)} (${fileError(error)})`);
  }
}

/**
 * Parses each file on its own (so a problem names its setting), then checks
 * that the key belongs to the certificate. Messages never quote file contents.
 */
function checked(contents: Contents, paths: CertificateFilePaths): Contents {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(contents.certificate);
  } catch (error) {
    throw new ConfigError(`${paths.certificate.setting}: not a PEM certificate (${errorReason(error)})`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(contents.privateKey);
  } catch (error) {
    throw new ConfigError(`${paths.privateKey.setting}: not a PEM private key (${errorReason(error)})`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError(
      `${paths.privateKey.setting}: the key does not belong to the certificate in ${paths.certificate.setting}`,
    );
  }
  if (contents.ca && paths.ca) {
    try {
      new X509Certificate(contents.ca);
      createSecureContext({ ca: contents.ca });
    } catch (error) {
      throw new ConfigError(`${paths.ca.setting}: not a PEM CA bundle (${errorReason(error)})`);
    }
  }
  // Whatever else OpenSSL would refuse (chain order, key type): found now, not at the first handshake.
  try {
    createSecureContext({ cert: contents.certificate, key: contents.privateKey });
  } catch (error) {
    throw new ConfigError(`${paths.certificate.setting}: refused by TLS (${errorReason(error)})`);
  }
  return contents;
}

function sameContents(a: Contents, b: Contents): boolean {
  return (
    a.certificate.equals(b.certificate) &&
    a.privateKey.equals(b.privateKey) &&
    (a.ca ?? Buffer.alloc(0)).equals(b.ca ?? Buffer.alloc(0))
  );
}

function digestOf(contents: Contents): string {
  const hash = createHash("sha256");
  for (const part of [contents.certificate, contents.privateKey, contents.ca ?? Buffer.alloc(0)])
    hash.update(part).update("\0");
  return hash.digest("hex");
}

/** A file error's code, else the library's reason. */
function fileError(error: unknown): string {
  return errorCode(error) ?? errorReason(error);
}
