import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { durationOption, positionals, type CommandArgs } from "../cli-args.ts";
import { callFailed } from "../cli-error.ts";
import { COMMON_OPTIONS, COMMON_USAGE, type CliContext, type Command } from "../command.ts";
import { EXIT } from "../exit-codes.ts";
import { leaseJson } from "../lease-json.ts";
import { deadline, withClient } from "../sidecar-connection.ts";

export const extendCommand: Command = {
  name: "extend",
  summary: "renew a lease and print it as JSON",
  usage: `Usage: lockctl extend NAME LEASE_ID [--ttl 10s]

Renews the lease LEASE_ID on the lock NAME for TTL from now and prints the
renewed lease as JSON (same shape as acquire).

Options:
  --ttl DURATION    the new TTL (default: the sidecar's default TTL)
${COMMON_USAGE}

Durations: 250ms, 10s, 5m, 1h, or sums like 1m30s.

Exit codes: 0 extended, 2 usage, 3 the lease is no longer held (stop the
protected work), 4 unavailable (not renewed; retry while it is still valid),
5 other error.`,
  options: { ...COMMON_OPTIONS, ttl: { type: "string" } },

  async run(args: CommandArgs, ctx: CliContext): Promise<number> {
    const [name, leaseId] = positionals(args, ["NAME", "LEASE_ID"]);
    const ttlMs = durationOption(args, "ttl");
    const { lease } = await withClient(args, ctx, (client) =>
      client.extend(
        { name: name!, leaseId: leaseId!, ...(ttlMs === undefined ? {} : { ttl: durationFromMs(ttlMs) }) },
        { deadline: deadline() },
      ),
    ).catch((error: unknown) => {
      throw callFailed(`extend ${JSON.stringify(name)}`, error);
    });
    if (!lease) throw callFailed(`extend ${JSON.stringify(name)}`, new Error("the sidecar answered without a lease"));
    ctx.out(`${JSON.stringify(leaseJson(lease))}\n`);
    return EXIT.ok;
  },
};
