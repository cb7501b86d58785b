import type { experimental } from "@grpc/grpc-js";
import type { Logger } from "../log/logger.ts";
import { certificateSummary } from "./certificate-summary.ts";
import type { PemFile } from "./pem-files.ts";
import { WatchedPemFiles } from "./watched-pem-files.ts";

export interface CertificateFilePaths {
  certificate: PemFile;
  privateKey: PemFile;
  /** CA bundle client certificates must chain to (mutual TLS). */
  ca?: PemFile;
}

/**
 * The API's certificate, its key and optionally a CA bundle, for grpc-js'
 * certificate-provider server credentials, read from files and read again
 * every `refreshIntervalMs` while grpc-js listens. It differs from grpc-js'
 * FileWatcherCertificateProvider as WatchedPemFiles does: a rotation is
 * published only once valid, and a problem is logged naming the setting.
 */
export class CertificateFiles implements experimental.CertificateProvider {
  readonly #files: WatchedPemFiles;
  readonly #refreshIntervalMs: number;
  readonly #identityListeners = new Set<experimental.IdentityCertificateUpdateListener>();
  readonly #caListeners = new Set<experimental.CaCertificateUpdateListener>();

  /** Reads and checks the files now: a problem stops start-up with a ConfigError naming the setting. */
  constructor(paths: CertificateFilePaths, refreshIntervalMs: number, logger: Logger) {
    this.#refreshIntervalMs = refreshIntervalMs;
    const log = {
      reloaded: "tls certificate reloaded",
      reloadedFields: () => this.describe(),
      notReloaded: "tls files not reloaded: still serving the previous certificate",
    };
    this.#files = new WatchedPemFiles(paths, logger, log, () => this.#publish());
  }

  /** Subject, expiry and SHA-256 fingerprint of the certificate now served (for logs and tests). */
  describe(): { subject: string; validTo: string; fingerprint256: string } {
    return certificateSummary(this.#files.current.certificate!);
  }

  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.#identityListeners.add(listener);
    this.#files.start(this.#refreshIntervalMs);
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
    this.#files.start(this.#refreshIntervalMs);
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
    this.#files.refresh();
  }

  #publish(): void {
    const identity = this.#identity();
    for (const listener of this.#identityListeners) listener(identity);
    const caUpdate = this.#caUpdate();
    for (const listener of this.#caListeners) listener(caUpdate);
  }

  #identity(): experimental.IdentityCertificateUpdate {
    const { certificate, privateKey } = this.#files.current;
    return { certificate: certificate!, privateKey: privateKey! };
  }

  #caUpdate(): experimental.CaCertificateUpdate | null {
    const { ca } = this.#files.current;
    return ca ? { caCertificate: ca } : null;
  }

  #maybeStopPolling(): void {
    if (this.#identityListeners.size > 0 || this.#caListeners.size > 0) return;
    this.#files.stop();
  }
}
