import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import { formatDurationMs } from "../../config/duration.ts";
import { durationOption, positionals, stringOption, type CommandArgs } from "../cli-args.ts";
import { callFailed } from "../cli-error.ts";
import { COMMON_OPTIONS, COMMON_USAGE, type CliContext, type Command } from "../command.ts";
import { EXIT } from "../exit-codes.ts";
import { leaseJson } from "../lease-json.ts";
import { deadline, withClient } from "../sidecar-connection.ts";
import { noticeLongWait } from "../wait-notice.ts";

export const acquireCommand: Command = {
  name: "acquire",
  summary: "take a lease on a lock and print it as JSON",
  usage: `Usage: lockctl acquire NAME [--ttl 10s] [--wait 0s] [--owner TEXT]

Takes a lease on the lock NAME and prints it as one JSON object:
{"name","leaseId","fencingToken","expiresAt","ttlMs"}. Keep leaseId secret:
it is the only proof of ownership (pass it to release and extend).

Options:
  --ttl DURATION    how long the lease lasts unless extended (default: the sidecar's default TTL)
  --wait DURATION   how long to keep trying while the lock is held elsewhere (default 0s: one attempt)
  --owner TEXT      who is asking, for the sidecar's diagnostics
${COMMON_USAGE}

Durations: 250ms, 10s, 5m, 1h, or sums like 1m30s.

Exit codes: 0 acquired, 1 held elsewhere for the whole wait, 2 usage,
4 unavailable (sidecar or a majority of instances unreachable), 5 other error.`,
  options: { ...COMMON_OPTIONS, ttl: { type: "string" }, wait: { type: "string" }, owner: { type: "string" } },

  async run(args: CommandArgs, ctx: CliContext): Promise<number> {
    const [name] = positionals(args, ["NAME"]);
    const ttlMs = durationOption(args, "ttl");
    const waitMs = durationOption(args, "wait") ?? 0;
    const owner = stringOption(args, "owner") ?? "";
    const stopNotice = noticeLongWait(ctx, name!, waitMs);
    const response = await withClient(args, ctx, (client) =>
      client.acquire(
        {
          name: name!,
          owner,
          wait: durationFromMs(waitMs),
          ...(ttlMs === undefined ? {} : { ttl: durationFromMs(ttlMs) }),
        },
        { deadline: deadline(waitMs) },
      ),
    )
      .catch((error: unknown) => {
        throw callFailed(`acquire ${JSON.stringify(name)}`, error);
      })
      .finally(stopNotice);
    if (!response.acquired || !response.lease) {
      const hint = response.retryAfter
        ? ` (the holder's lease had ${formatDurationMs(durationMs(response.retryAfter))} left)`
        : "";
      ctx.err(`lockctl: not acquired: ${JSON.stringify(name)} is held elsewhere${hint}\n`);
      return EXIT.notDone;
    }
    ctx.out(`${JSON.stringify(leaseJson(response.lease))}\n`);
    return EXIT.ok;
  },
};
