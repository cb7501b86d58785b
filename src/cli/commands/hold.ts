import { spawn } from "node:child_process";
import { constants } from "node:os";
import { formatDurationMs } from "../../config/duration.ts";
import { LockNotAcquiredError } from "../../client/errors.ts";
import type { Lease } from "../../client/lease.ts";
import { Locks } from "../../client/locks.ts";
import { durationOption, positionals, stringOption, type CommandArgs } from "../cli-args.ts";
import { callFailed, usageError } from "../cli-error.ts";
import { COMMON_OPTIONS, COMMON_USAGE, type CliContext, type Command } from "../command.ts";
import { EXIT } from "../exit-codes.ts";
import { CALL_TIMEOUT_MS, withClient } from "../sidecar-connection.ts";
import { noticeLongWait } from "../wait-notice.ts";

const DEFAULT_KILL_AFTER_MS = 10_000;
const FORWARDED_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;

export const holdCommand: Command = {
  name: "hold",
  summary: "run a command while holding a lock, kept alive until it exits",
  usage: `Usage: lockctl hold NAME [--ttl 10s] [--wait 0s] [--owner TEXT] [--kill-after 10s] -- COMMAND [ARGS...]

Takes the lock NAME and keeps it over one Hold call (no window between taking
and keeping), runs COMMAND with the environment variables LOCK_NAME and
LOCK_FENCING_TOKEN set, and releases the lock when COMMAND exits. SIGTERM,
SIGINT and SIGHUP sent to lockctl are passed on to COMMAND.

If the lease is lost (the sidecar ends the hold, or no renewal arrives before
the lease's expiresAt on this machine's clock), COMMAND gets SIGTERM, then
SIGKILL after --kill-after, and lockctl exits 3. Pass LOCK_FENCING_TOKEN to
the resource you protect: it is what makes a command that outlives its lease
harmless.

Options:
  --ttl DURATION         lease TTL; renewed about every TTL/3 (default: the sidecar's default TTL)
  --wait DURATION        how long to keep trying while the lock is held elsewhere (default 0s)
  --owner TEXT           who is asking, for the sidecar's diagnostics
  --kill-after DURATION  after the SIGTERM on a lost lease, wait this long before SIGKILL (default 10s)
${COMMON_USAGE}

Durations: 250ms, 10s, 5m, 1h, or sums like 1m30s.

Exit codes: COMMAND's own exit code (128+N when killed by signal N) if it
ran and the lease held; 1 not acquired; 2 usage; 3 lease lost while COMMAND
ran; 4 unavailable; 5 other error (also: COMMAND could not be started).`,
  options: {
    ...COMMON_OPTIONS,
    ttl: { type: "string" },
    wait: { type: "string" },
    owner: { type: "string" },
    "kill-after": { type: "string" },
  },

  async run(args: CommandArgs, ctx: CliContext): Promise<number> {
    const [name] = positionals(args, ["NAME"]);
    const command = args.rest;
    if (!command || command.length === 0)
      throw usageError("missing the command to run: lockctl hold NAME -- COMMAND [ARGS...]");
    const ttlMs = durationOption(args, "ttl");
    const waitMs = durationOption(args, "wait") ?? 0;
    const killAfterMs = durationOption(args, "kill-after") ?? DEFAULT_KILL_AFTER_MS;
    const owner = stringOption(args, "owner") ?? "";

    return withClient(args, ctx, async (client) => {
      const locks = new Locks({ client, callTimeoutMs: CALL_TIMEOUT_MS });
      const stopNotice = noticeLongWait(ctx, name!, waitMs);
      let lease: Lease;
      try {
        lease = await locks.hold(name!, { owner, wait: waitMs, ...(ttlMs === undefined ? {} : { ttl: ttlMs }) });
      } catch (error) {
        if (!(error instanceof LockNotAcquiredError)) throw callFailed(`hold ${JSON.stringify(name)}`, error);
        const hint =
          error.retryAfterMs === undefined
            ? ""
            : ` (the holder's lease had ${formatDurationMs(error.retryAfterMs)} left)`;
        ctx.err(`lockctl: not acquired: ${JSON.stringify(name)} is held elsewhere${hint}\n`);
        return EXIT.notDone;
      } finally {
        stopNotice();
      }
      const outcome = await runWhileHeld(lease, command, killAfterMs, ctx);
      // Released before lockctl exits, so the next holder need not wait for the TTL.
      await lease.release().catch((error: unknown) => {
        ctx.err(`lockctl: ${callFailed(`release ${JSON.stringify(name)}`, error).message} (it runs out at its TTL)\n`);
      });
      return outcome;
    });
  },
};

/** Runs the command while the lease is held; resolves to lockctl's exit code once it has exited. */
function runWhileHeld(lease: Lease, command: string[], killAfterMs: number, ctx: CliContext): Promise<number> {
  return new Promise<number>((resolve) => {
    let lost = false;
    let done = false;
    let killTimer: NodeJS.Timeout | undefined;

    // Listen before spawning: a signal that arrives once the command runs must reach it, not end lockctl.
    const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    const child = spawn(command[0]!, command.slice(1), {
      stdio: "inherit",
      env: { ...ctx.env, LOCK_NAME: lease.name, LOCK_FENCING_TOKEN: lease.fencingToken.toString() },
    });

    const lose = (): void => {
      if (done || lost) return;
      lost = true;
      const reason = lease.signal.reason instanceof Error ? lease.signal.reason.message : String(lease.signal.reason);
      ctx.err(`lockctl: ${reason}: stopping the command\n`);
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    };
    if (lease.signal.aborted) lose();
    else lease.signal.addEventListener("abort", lose, { once: true });

    const finish = (code: number): void => {
      if (done) return;
      done = true;
      clearTimeout(killTimer);
      lease.signal.removeEventListener("abort", lose);
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
      resolve(lost ? EXIT.leaseLost : code);
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
