import { spawn } from "node:child_process";
import { constants } from "node:os";
import { durationFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { ServiceError } from "@grpc/grpc-js";
import type { KeepAliveResponse, Lease } from "../../../gen/lock/v1/lock_pb.ts";
import type { LockClient } from "../../client/lock-client.ts";
import { durationOption, positionals, stringOption, type CommandArgs } from "../cli-args.ts";
import { callFailed, usageError } from "../cli-error.ts";
import { COMMON_OPTIONS, COMMON_USAGE, type CliContext, type Command } from "../command.ts";
import { EXIT } from "../exit-codes.ts";
import { deadline, withClient } from "../sidecar-connection.ts";

const DEFAULT_KILL_AFTER_MS = 10_000;
const FORWARDED_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;

export const holdCommand: Command = {
  name: "hold",
  summary: "run a command while holding a lock, kept alive until it exits",
  usage: `Usage: lockctl hold NAME [--ttl 10s] [--wait 0s] [--owner TEXT] [--kill-after 10s] -- COMMAND [ARGS...]

Acquires the lock NAME, runs COMMAND with the environment variables
LOCK_NAME and LOCK_FENCING_TOKEN set, keeps the lease alive over a KeepAlive
stream while COMMAND runs, and releases it when COMMAND exits. SIGTERM,
SIGINT and SIGHUP sent to lockctl are passed on to COMMAND.

If the lease is lost (the sidecar ends the stream, or no renewal arrives
before the lease's expiresAt on this machine's clock), COMMAND gets SIGTERM,
then SIGKILL after --kill-after, and lockctl exits 3. Pass
LOCK_FENCING_TOKEN to the resource you protect: it is what makes a command
that outlives its lease harmless.

Options:
  --ttl DURATION         lease TTL; renewed about every TTL/3 (default: the sidecar's default TTL)
  --wait DURATION        how long to keep trying while the lock is held elsewhere (default 0s)
  --owner TEXT           who is asking, for the sidecar's diagnostics
  --kill-after DURATION  after the SIGTERM on a lost lease, wait this long before SIGKILL (default 10s)
${COMMON_USAGE}

Exit codes: COMMAND's own exit code (128+N when killed by signal N) if it
ran and the lease held; 1 not acquired; 2 usage; 3 lease lost while COMMAND
ran; 4 unavailable; 5 other error (also: COMMAND could not be started).`,
  options: { ...COMMON_OPTIONS, ttl: { type: "string" }, wait: { type: "string" }, owner: { type: "string" }, "kill-after": { type: "string" } },

  async run(args: CommandArgs, ctx: CliContext): Promise<number> {
    const [name] = positionals(args, ["NAME"]);
    const command = args.rest;
    if (!command || command.length === 0) throw usageError("missing the command to run: lockctl hold NAME -- COMMAND [ARGS...]");
    const ttlMs = durationOption(args, "ttl");
    const waitMs = durationOption(args, "wait") ?? 0;
    const killAfterMs = durationOption(args, "kill-after") ?? DEFAULT_KILL_AFTER_MS;
    const owner = stringOption(args, "owner") ?? "";
    const ttl = ttlMs === undefined ? {} : { ttl: durationFromMs(ttlMs) };

    return withClient(args, ctx, async (client) => {
      const response = await client.acquire({ name: name!, owner, wait: durationFromMs(waitMs), ...ttl }, { deadline: deadline(waitMs) }).catch((error: unknown) => {
        throw callFailed(`acquire ${JSON.stringify(name)}`, error);
      });
      if (!response.acquired || !response.lease) {
        ctx.err(`lockctl: not acquired: ${JSON.stringify(name)} is held elsewhere\n`);
        return EXIT.notDone;
      }
      const lease = response.lease;
      const outcome = await runWhileHeld(client, lease, command, { ttl, killAfterMs }, ctx);
      // Stream cancellation already releases; this confirms it (and is harmless twice).
      await client.release({ name: lease.name, leaseId: lease.leaseId }, { deadline: deadline() }).catch((error: unknown) => {
        ctx.err(`lockctl: ${callFailed(`release ${JSON.stringify(name)}`, error).message} (it expires at its TTL)\n`);
      });
      return outcome;
    });
  },
};

interface HoldOptions {
  ttl: { ttl?: ReturnType<typeof durationFromMs> };
  killAfterMs: number;
}

/**
 * Runs the command while a KeepAlive stream renews the lease; resolves to
 * lockctl's exit code once the command has exited.
 */
function runWhileHeld(client: LockClient, lease: Lease, command: string[], options: HoldOptions, ctx: CliContext): Promise<number> {
  return new Promise<number>((resolve) => {
    let lostBecause: string | undefined;
    let done = false;
    let expiryTimer: NodeJS.Timeout | undefined;
    let killTimer: NodeJS.Timeout | undefined;

    const stream = client.keepAlive({ name: lease.name, leaseId: lease.leaseId, expireOnClose: false, ...options.ttl });
    // Listen before spawning: a signal that arrives once the command runs must reach it, not end lockctl.
    const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    const child = spawn(command[0]!, command.slice(1), {
      stdio: "inherit",
      env: { ...ctx.env, LOCK_NAME: lease.name, LOCK_FENCING_TOKEN: lease.fencingToken.toString() },
    });

    const lose = (reason: string): void => {
      if (done || lostBecause !== undefined) return;
      lostBecause = reason;
      ctx.err(`lockctl: lease on ${JSON.stringify(lease.name)} lost (${reason}): stopping the command\n`);
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), options.killAfterMs);
    };
    // The stream may stall without failing (a partition): past expiresAt the lease cannot be counted on.
    const armExpiry = (current: Lease): void => {
      if (!current.expiresAt) return;
      clearTimeout(expiryTimer);
      expiryTimer = setTimeout(() => lose("no renewal arrived before it expired"), Math.max(0, timestampMs(current.expiresAt) - Date.now()));
    };
    armExpiry(lease);
    stream.on("data", (message: KeepAliveResponse) => {
      if (message.lease) armExpiry(message.lease);
    });
    stream.on("error", (error: ServiceError) => lose(callFailed("keepalive", error).message));
    stream.on("end", () => lose("the sidecar ended the keepalive stream"));

    const finish = (code: number): void => {
      if (done) return;
      done = true;
      clearTimeout(expiryTimer);
      clearTimeout(killTimer);
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
      stream.cancel();
      resolve(lostBecause !== undefined ? EXIT.leaseLost : code);
    };
    child.once("error", (error) => {
      // Only a command that never started ends here; a failed kill of a running one is not the end.
      if (child.pid !== undefined) return;
      ctx.err(`lockctl: cannot run ${JSON.stringify(command[0])}: ${error.message}\n`);
      finish(EXIT.error);
    });
    child.once("exit", (code, signal) => finish(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}
