import type { ParseArgsOptionsConfig } from "node:util";
import type { CommandArgs } from "./cli-args.ts";

export interface CliContext {
  env: Record<string, string | undefined>;
  /** Writes to stdout: the command's result (JSON where scripts read it). */
  out(text: string): void;
  /** Writes to stderr: diagnostics. */
  err(text: string): void;
  /** Whether stderr is a terminal: notices meant for a person are written only then. */
  stderrIsTTY?: boolean;
}

/** One lockctl subcommand: its options, its --help text, and what it does. */
export interface Command {
  readonly name: string;
  /** One line for `lockctl --help`. */
  readonly summary: string;
  /** The whole `lockctl NAME --help` text. */
  readonly usage: string;
  readonly options: ParseArgsOptionsConfig;
  /** Resolves to the exit code; throws CliError for failures. */
  run(args: CommandArgs, ctx: CliContext): Promise<number>;
}

/** Options every command takes. */
export const COMMON_OPTIONS = {
  address: { type: "string" },
  tls: { type: "boolean" },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-server-name": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsOptionsConfig;

export const COMMON_USAGE = `Common options:
  --address HOST:PORT       the sidecar's gRPC address (env LOCK_ADDRESS, default 127.0.0.1:50051)
  --tls                     connect over TLS, trusting the system's CAs (implied by the options below)
  --tls-ca FILE             PEM CA bundle the sidecar's certificate must chain to (env LOCK_CLIENT_TLS_CA)
  --tls-cert FILE           PEM client certificate, for a sidecar that requires one (env LOCK_CLIENT_TLS_CERT)
  --tls-key FILE            PEM private key of --tls-cert (env LOCK_CLIENT_TLS_KEY)
  --tls-server-name NAME    check the sidecar's certificate for NAME, not the address's host (env LOCK_CLIENT_TLS_SERVER_NAME)
  -h, --help                this help`;
