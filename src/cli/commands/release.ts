import { positionals, type CommandArgs } from "../cli-args.ts";
import { callFailed } from "../cli-error.ts";
import { COMMON_OPTIONS, COMMON_USAGE, type CliContext, type Command } from "../command.ts";
import { EXIT } from "../exit-codes.ts";
import { deadline, withClient } from "../sidecar-connection.ts";

export const releaseCommand: Command = {
  name: "release",
  summary: "give a lease back",
  usage: `Usage: lockctl release NAME LEASE_ID

Releases the lease LEASE_ID (as printed by acquire) on the lock NAME and
prints {"released":true|false}. Releasing twice is harmless.

${COMMON_USAGE}

Exit codes: 0 released, 1 not released (it was no longer held: expired,
released or taken over), 2 usage, 4 unavailable, 5 other error.`,
  options: { ...COMMON_OPTIONS },

  async run(args: CommandArgs, ctx: CliContext): Promise<number> {
    const [name, leaseId] = positionals(args, ["NAME", "LEASE_ID"]);
    const { released } = await withClient(args, ctx, (client) =>
      client.release({ name: name!, leaseId: leaseId! }, { deadline: deadline() }),
    ).catch((error: unknown) => {
      throw callFailed(`release ${JSON.stringify(name)}`, error);
    });
    ctx.out(`${JSON.stringify({ released })}\n`);
    if (!released) ctx.err(`lockctl: not released: the lease on ${JSON.stringify(name)} was no longer held\n`);
    return released ? EXIT.ok : EXIT.notDone;
  },
};
