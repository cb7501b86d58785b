import { readFileSync } from "node:fs";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { createSecureContext, type ConnectionOptions } from "node:tls";
import { ConfigError } from "../config/load-config.ts";
import type { SidecarOptions } from "../config/options.ts";
import type { Logger } from "../log/logger.ts";
import { certificateSummary } from "../util/certificate-summary.ts";
import { errorCode, errorReason } from "../util/error-text.ts";

export type InstanceTlsOptions = Pick<
  SidecarOptions,
  "instanceTlsCaFile" | "instanceTlsCertFile" | "instanceTlsKeyFile"
>;

/**
 * The instances' TLS options, kept current as their files rotate. Every
 * RedisInstance gets the one `options` object, and ioredis reads it on each
 * (re)connection: when a refresh finds changed files that parse and whose
 * key matches the certificate, their contents replace the object's fields,
 * so new connections present the new client certificate and trust the new
 * CA bundle while open ones keep theirs. A set that does not parse (a
 * half-written rotation) is not used; the problem is logged once per set.
 * Polled like the API's files (see server/certificate-files.ts for why).
 */
export class InstanceTlsFiles {
  readonly options: ConnectionOptions;
  readonly #settings: InstanceTlsOptions;
  readonly #logger: Logger;
  #lastRejected = "";
  #timer: NodeJS.Timeout | undefined;

  private constructor(settings: InstanceTlsOptions, options: ConnectionOptions, logger: Logger) {
    this.#settings = settings;
    this.options = options;
    this.#logger = logger;
  }

  /** Reads the files now (a problem stops start-up); undefined when no instance TLS file is set. */
  static load(settings: InstanceTlsOptions, logger: Logger): InstanceTlsFiles | undefined {
    const options = instanceTlsOptions(settings);
    return options ? new InstanceTlsFiles(settings, options, logger) : undefined;
  }

  /** Reads the files every `intervalMs` from now on, in the background. */
  start(intervalMs: number): void {
    this.#timer ??= setInterval(() => this.refresh(), intervalMs);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Reads the files once and takes them if they changed and are valid; parses only what changed. */
  refresh(): void {
    let next: ConnectionOptions;
    try {
      next = readFiles(this.#settings);
      if (
        sameBytes(next.ca, this.options.ca) &&
        sameBytes(next.cert, this.options.cert) &&
        sameBytes(next.key, this.options.key)
      ) {
        this.#lastRejected = "";
        return;
      }
      checkFiles(next);
    } catch (error) {
      // Once per problem: a rotation that stays broken is not logged every interval.
      const problem = error instanceof Error ? error.message : String(error);
      if (problem !== this.#lastRejected)
        this.#logger.warn({ problem }, "instance tls files not reloaded: new connections keep the previous ones");
      this.#lastRejected = problem;
      return;
    }
    this.#lastRejected = "";
    Object.assign(this.options, next);
    this.#logger.info(
      Buffer.isBuffer(next.cert) ? { clientCertificate: certificateSummary(next.cert) } : {},
      "instance tls files reloaded",
    );
  }
}

/**
 * The TLS options for rediss:// instances: the CA their certificates must
 * chain to (LOCK_INSTANCE_TLS_CA; unset: Node's default CAs) and the client
 * certificate for instances that require one (LOCK_INSTANCE_TLS_CERT and
 * LOCK_INSTANCE_TLS_KEY). A file that does not parse throws a ConfigError
 * naming its setting. Verification is never turned off. Undefined when none
 * is set.
 */
export function instanceTlsOptions(options: InstanceTlsOptions): ConnectionOptions | undefined {
  if (options.instanceTlsCaFile === "" && options.instanceTlsCertFile === "") return undefined;
  const tls = readFiles(options);
  checkFiles(tls);
  return tls;
}

const CA_SETTING = "LOCK_INSTANCE_TLS_CA / --instance-tls-ca";
const CERT_SETTING = "LOCK_INSTANCE_TLS_CERT / --instance-tls-cert";
const KEY_SETTING = "LOCK_INSTANCE_TLS_KEY / --instance-tls-key";

/** The set files' bytes, unparsed. */
function readFiles(options: InstanceTlsOptions): ConnectionOptions {
  const { instanceTlsCaFile, instanceTlsCertFile, instanceTlsKeyFile } = options;
  const tls: ConnectionOptions = {};
  if (instanceTlsCaFile !== "") tls.ca = read(instanceTlsCaFile, CA_SETTING);
  if (instanceTlsCertFile !== "") {
    tls.cert = read(instanceTlsCertFile, CERT_SETTING);
    tls.key = read(instanceTlsKeyFile, KEY_SETTING);
  }
  return tls;
}

/** Throws a ConfigError naming the setting whose file does not parse, or whose key does not match. */
function checkFiles(tls: ConnectionOptions): void {
  const { ca, cert, key } = tls;
  if (Buffer.isBuffer(ca)) {
    check(CA_SETTING, "not a PEM CA bundle", () => {
      new X509Certificate(ca);
      createSecureContext({ ca });
    });
  }
  if (Buffer.isBuffer(cert) && Buffer.isBuffer(key)) {
    const x509 = check(CERT_SETTING, "not a PEM certificate", () => new X509Certificate(cert));
    const privateKey = check(KEY_SETTING, "not a PEM private key", () => createPrivateKey(key));
    if (!x509.checkPrivateKey(privateKey)) {
      throw new ConfigError(`${KEY_SETTING}: the key does not belong to the certificate in LOCK_INSTANCE_TLS_CERT`);
    }
  }
}

function read(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`${setting}: cannot read ${JSON.stringify(path)} (${errorCode(error) ?? "unreadable"})`);
  }
}

function check<T>(setting: string, problem: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    // The library's reason, first line only; it never quotes the file.
    throw new ConfigError(`${setting}: ${problem} (${errorReason(error)})`);
  }
}

function sameBytes(a: unknown, b: unknown): boolean {
  return Buffer.isBuffer(a) && Buffer.isBuffer(b) ? a.equals(b) : a === b;
}
