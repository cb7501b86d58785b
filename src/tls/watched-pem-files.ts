import type { Logger } from "../log/logger.ts";
import {
  checkPemContents,
  type PemContents,
  type PemFiles,
  pemDigest,
  readPemFiles,
  samePemContents,
} from "./pem-files.ts";

/** What the log says when a set is taken, and when one is refused. */
export interface ReloadLog {
  reloaded: string;
  /** Fields of the "reloaded" line: what the certificate is, never its bytes. */
  reloadedFields(contents: PemContents): Record<string, unknown>;
  notReloaded: string;
}

/**
 * PEM files read now and again on every refresh; the one reader and poller
 * of TLS files, for the API's certificate and the instances' alike. A set of
 * files is taken only once it parses and the key matches the certificate, so
 * a half-written rotation (or a certificate read just before its key was
 * swapped) keeps the last good set in use instead of breaking every new
 * connection. A refused set is logged once, naming the setting.
 *
 * Polling, not fs.watch: mounted Kubernetes secrets rotate by swapping a
 * symlink (`..data`) to a new directory, which inotify on the old files never
 * reports; reading a few small files once per interval always sees it.
 */
export class WatchedPemFiles {
  readonly #files: PemFiles;
  readonly #logger: Logger;
  readonly #log: ReloadLog;
  readonly #onChange: (contents: PemContents) => void;
  #current: PemContents;
  /** The last refused set (its digest, or the problem when it could not be read), logged once. */
  #lastRejected = "";
  #timer: NodeJS.Timeout | undefined;

  /** Reads and checks the files now: a problem throws a ConfigError naming the setting, to stop start-up. */
  constructor(files: PemFiles, logger: Logger, log: ReloadLog, onChange: (contents: PemContents) => void) {
    this.#files = files;
    this.#logger = logger;
    this.#log = log;
    this.#onChange = onChange;
    const contents = readPemFiles(files);
    checkPemContents(contents, files);
    this.#current = contents;
  }

  /** The set in use: the last one that was valid. */
  get current(): PemContents {
    return this.#current;
  }

  /** Reads the files every `intervalMs` from now on, in the background. Idempotent. */
  start(intervalMs: number): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.refresh(), intervalMs);
    // Background work: it must not keep the process alive on its own.
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Reads the files once and takes them if they changed and are valid. */
  refresh(): void {
    let next: PemContents;
    try {
      next = readPemFiles(this.#files);
    } catch (error) {
      const problem = problemOf(error);
      this.#reject(problem, problem);
      return;
    }
    if (samePemContents(next, this.#current)) {
      // Back to the set in use: a later broken rotation is worth a line again.
      this.#lastRejected = "";
      return;
    }
    try {
      checkPemContents(next, this.#files);
    } catch (error) {
      this.#reject(problemOf(error), pemDigest(next));
      return;
    }
    this.#current = next;
    this.#lastRejected = "";
    this.#logger.info(this.#log.reloadedFields(next), this.#log.reloaded);
    this.#onChange(next);
  }

  #reject(problem: string, key: string): void {
    if (key === this.#lastRejected) return;
    this.#lastRejected = key;
    this.#logger.warn({ problem }, this.#log.notReloaded);
  }
}

function problemOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
