import type { ConnectionOptions } from "node:tls";
import type { SidecarOptions } from "../config/options.ts";
import type { Logger } from "../log/logger.ts";
import { certificateSummary } from "./certificate-summary.ts";
import type { PemContents, PemFiles } from "./pem-files.ts";
import { WatchedPemFiles } from "./watched-pem-files.ts";

export type InstanceTlsOptions = Pick<
  SidecarOptions,
  "instanceTlsCaFile" | "instanceTlsCertFile" | "instanceTlsKeyFile"
>;

/**
 * The TLS options for rediss:// instances, kept current as their files
 * rotate: the CA their certificates must chain to (LOCK_INSTANCE_TLS_CA;
 * unset: Node's default CAs) and the client certificate for instances that
 * require one (LOCK_INSTANCE_TLS_CERT and LOCK_INSTANCE_TLS_KEY).
 * Verification is never turned off. Every RedisInstance gets the one
 * `options` object, and ioredis reads it on each (re)connection: a valid
 * rotation replaces the object's fields, so new connections present the new
 * client certificate and trust the new CA bundle while open ones keep theirs.
 */
export class InstanceTlsFiles {
  readonly options: ConnectionOptions;
  readonly #files: WatchedPemFiles;

  private constructor(files: PemFiles, logger: Logger) {
    const log = {
      reloaded: "instance tls files reloaded",
      reloadedFields: ({ certificate }: PemContents) =>
        certificate ? { clientCertificate: certificateSummary(certificate) } : {},
      notReloaded: "instance tls files not reloaded: new connections keep the previous ones",
    };
    this.#files = new WatchedPemFiles(files, logger, log, (contents) =>
      Object.assign(this.options, connectionOptions(contents)),
    );
    this.options = connectionOptions(this.#files.current);
  }

  /** Reads the files now (a problem stops start-up); undefined when no instance TLS file is set. */
  static load(settings: InstanceTlsOptions, logger: Logger): InstanceTlsFiles | undefined {
    const { instanceTlsCaFile, instanceTlsCertFile, instanceTlsKeyFile } = settings;
    if (instanceTlsCaFile === "" && instanceTlsCertFile === "") return undefined;
    const files: PemFiles = {};
    if (instanceTlsCaFile !== "") files.ca = { path: instanceTlsCaFile, setting: CA_SETTING };
    if (instanceTlsCertFile !== "") {
      files.certificate = { path: instanceTlsCertFile, setting: CERT_SETTING };
      files.privateKey = { path: instanceTlsKeyFile, setting: KEY_SETTING };
    }
    return new InstanceTlsFiles(files, logger);
  }

  /** Reads the files every `intervalMs` from now on, in the background. */
  start(intervalMs: number): void {
    this.#files.start(intervalMs);
  }

  close(): void {
    this.#files.stop();
  }

  /** Reads the files once and takes them if they changed and are valid. */
  refresh(): void {
    this.#files.refresh();
  }
}

const CA_SETTING = "LOCK_INSTANCE_TLS_CA / --instance-tls-ca";
const CERT_SETTING = "LOCK_INSTANCE_TLS_CERT / --instance-tls-cert";
const KEY_SETTING = "LOCK_INSTANCE_TLS_KEY / --instance-tls-key";

/** Only the fields whose files are set, so ioredis keeps its defaults for the rest. */
function connectionOptions({ certificate, privateKey, ca }: PemContents): ConnectionOptions {
  const tls: ConnectionOptions = {};
  if (ca) tls.ca = ca;
  if (certificate && privateKey) {
    tls.cert = certificate;
    tls.key = privateKey;
  }
  return tls;
}
