import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { ChannelCredentials, type ChannelOptions } from "@grpc/grpc-js";
import { LockClient } from "../client/lock-client.ts";
import { stringOption, type CommandArgs } from "./cli-args.ts";
import { errorCode, errorReason } from "../util/error-text.ts";
import { CliError, usageError } from "./cli-error.ts";
import type { CliContext } from "./command.ts";

export const DEFAULT_ADDRESS = "127.0.0.1:50051";

/** Bound on each call beyond the wait it asks for: a hung sidecar must not hang lockctl. */
export const CALL_TIMEOUT_MS = 10_000;

/** How lockctl reaches the sidecar's gRPC API. */
export interface SidecarConnection {
  address: string;
  credentials: ChannelCredentials;
  channelOptions: ChannelOptions;
}

/** --address, else LOCK_ADDRESS, else the sidecar's default listen address. */
export function sidecarAddress(args: CommandArgs, ctx: CliContext): string {
  return stringOption(args, "address") ?? nonEmpty(ctx.env["LOCK_ADDRESS"]) ?? DEFAULT_ADDRESS;
}

/**
 * The address, and TLS when the sidecar serves its API over it (LOCK_TLS_CERT).
 * TLS is on with --tls or as soon as any other TLS option is given: --tls-ca
 * trusts that bundle instead of the system's CAs, --tls-cert with --tls-key
 * presents a client certificate (the sidecar's LOCK_TLS_CLIENT_CA asks for
 * one), --tls-server-name checks the sidecar's certificate for that name
 * rather than the address's host. Each option can also come from the
 * environment (LOCK_CLIENT_TLS_CA and so on); the flag wins.
 */
export function sidecarConnection(args: CommandArgs, ctx: CliContext): SidecarConnection {
  const address = sidecarAddress(args, ctx);
  const setting = (flag: string, env: string): { value: string; source: string } | undefined => {
    const fromFlag = stringOption(args, flag);
    if (fromFlag !== undefined) return { value: fromFlag, source: `--${flag}` };
    const fromEnv = nonEmpty(ctx.env[env]);
    return fromEnv === undefined ? undefined : { value: fromEnv, source: env };
  };
  const ca = setting("tls-ca", "LOCK_CLIENT_TLS_CA");
  const cert = setting("tls-cert", "LOCK_CLIENT_TLS_CERT");
  const key = setting("tls-key", "LOCK_CLIENT_TLS_KEY");
  const serverName = setting("tls-server-name", "LOCK_CLIENT_TLS_SERVER_NAME");
  if (args.values["tls"] !== true && !ca && !cert && !key && !serverName) {
    return { address, credentials: ChannelCredentials.createInsecure(), channelOptions: {} };
  }
  if (!cert !== !key)
    throw usageError(
      `${(cert ?? key)!.source} needs its pair: a client certificate (--tls-cert) goes with its key (--tls-key)`,
    );
  let credentials: ChannelCredentials;
  try {
    credentials = ChannelCredentials.createSsl(readCaBundle(ca), readPem(key), readPem(cert));
  } catch (error) {
    if (error instanceof CliError) throw error;
    // Files that read but do not parse, or a key that is not the certificate's.
    const sources = [ca, cert, key].flatMap((file) => (file ? [file.source] : [])).join(", ");
    throw usageError(`${sources}: not usable for TLS (${errorReason(error)})`);
  }
  // The name the certificate is checked for, and the :authority the sidecar sees.
  const channelOptions: ChannelOptions = serverName
    ? { "grpc.ssl_target_name_override": serverName.value, "grpc.default_authority": serverName.value }
    : {};
  return { address, credentials, channelOptions };
}

/** Runs `work` with a client to the sidecar and closes it whatever happens. */
export async function withClient<T>(
  args: CommandArgs,
  ctx: CliContext,
  work: (client: LockClient) => Promise<T>,
): Promise<T> {
  const { address, credentials, channelOptions } = sidecarConnection(args, ctx);
  const client = new LockClient(address, credentials, channelOptions);
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

/** A gRPC deadline `extraMs` (a wait) beyond the usual call timeout. */
export function deadline(extraMs = 0): number {
  return Date.now() + extraMs + CALL_TIMEOUT_MS;
}

export function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text === "" ? undefined : text;
}

function readPem(file: { value: string; source: string } | undefined): Buffer | null {
  if (!file) return null;
  try {
    return readFileSync(file.value);
  } catch (error) {
    throw usageError(`${file.source}: cannot read ${JSON.stringify(file.value)} (${errorCode(error) ?? "unreadable"})`);
  }
}

/** OpenSSL skips what is not a certificate in a CA bundle, which would only surface as UNAVAILABLE. */
function readCaBundle(file: { value: string; source: string } | undefined): Buffer | null {
  const bundle = readPem(file);
  if (bundle === null) return null;
  try {
    new X509Certificate(bundle);
  } catch (error) {
    throw usageError(`${file!.source}: not a PEM CA bundle (${errorReason(error)})`);
  }
  return bundle;
}
