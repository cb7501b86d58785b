import { LockClient } from "../client/lock-client.ts";
import { stringOption, type CommandArgs } from "./cli-args.ts";
import type { CliContext } from "./command.ts";

export const DEFAULT_ADDRESS = "127.0.0.1:50051";

/** Bound on each call beyond the wait it asks for: a hung sidecar must not hang lockctl. */
export const CALL_TIMEOUT_MS = 10_000;

/** --address, else LOCK_ADDRESS, else the sidecar's default listen address. */
export function sidecarAddress(args: CommandArgs, ctx: CliContext): string {
  return stringOption(args, "address") ?? nonEmpty(ctx.env["LOCK_ADDRESS"]) ?? DEFAULT_ADDRESS;
}

/** Runs `work` with a client to the sidecar and closes it whatever happens. */
export async function withClient<T>(args: CommandArgs, ctx: CliContext, work: (client: LockClient) => Promise<T>): Promise<T> {
  const client = new LockClient(sidecarAddress(args, ctx));
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
