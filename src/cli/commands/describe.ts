import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { DescribeResponse } from "../../../gen/lock/v1/lock_pb.ts";
import { positionals, type CommandArgs } from "../cli-args.ts";
import { callFailed } from "../cli-error.ts";
import { COMMON_OPTIONS, COMMON_USAGE, type CliContext, type Command } from "../command.ts";
import { EXIT } from "../exit-codes.ts";
import { roughDuration } from "../rough-duration.ts";
import { deadline, withClient } from "../sidecar-connection.ts";

/** Describe's answer as lockctl prints it with --json: the token as a string (a uint64), times in ISO 8601 UTC. */
export interface DescriptionJson {
  name: string;
  held: boolean;
  owner: string;
  fencingToken: string | null;
  heldSince: string | null;
  heldForMs: number | null;
  remainingTtlMs: number | null;
  waitingTickets: number;
  waitingHere: number;
  instances: { total: number; answered: number; agreeing: number };
}

export const describeCommand: Command = {
  name: "describe",
  summary: "show who holds a lock, since when, for how long still, and who waits",
  usage: `Usage: lockctl describe NAME [--json]

Asks the sidecar who holds the lock NAME, as a majority of its instances sees
it: held or free, the holder's owner (the --owner it acquired with) and
fencing token, since when it is held, how long a majority still holds it
unless it is renewed, and how many wait: live waiting tickets (one per
sidecar whose callers wait) and the callers waiting through this sidecar.
Any sidecar on the same instances can describe any lock. It reads only.

Prints text, or one JSON object with --json:
{"name","held","owner","fencingToken","heldSince","heldForMs","remainingTtlMs",
 "waitingTickets","waitingHere","instances":{"total","answered","agreeing"}}
(null where unknown or free; heldForMs is measured on this machine's clock).

Options:
  --json                    print JSON instead of text
${COMMON_USAGE}

Exit codes: 0 described (held or free), 2 usage, 4 unavailable (fewer
than a majority of instances answered or agreed), 5 other error.`,
  options: { ...COMMON_OPTIONS, json: { type: "boolean" } },

  async run(args: CommandArgs, ctx: CliContext): Promise<number> {
    const [name] = positionals(args, ["NAME"]);
    const response = await withClient(args, ctx, (client) =>
      client.describe({ name: name! }, { deadline: deadline() }),
    ).catch((error: unknown) => {
      throw callFailed(`describe ${JSON.stringify(name)}`, error);
    });
    const description = descriptionJson(name!, response, Date.now());
    ctx.out(args.values["json"] === true ? `${JSON.stringify(description)}\n` : descriptionText(description));
    return EXIT.ok;
  },
};

export function descriptionJson(name: string, d: DescribeResponse, nowMs: number): DescriptionJson {
  const sinceMs = d.heldSince ? timestampMs(d.heldSince) : undefined;
  return {
    name,
    held: d.held,
    owner: d.owner,
    fencingToken: d.held && d.fencingToken > 0n ? d.fencingToken.toString() : null,
    heldSince: sinceMs === undefined ? null : new Date(sinceMs).toISOString(),
    heldForMs: sinceMs === undefined ? null : Math.max(0, nowMs - sinceMs),
    remainingTtlMs: d.remainingTtl ? durationMs(d.remainingTtl) : null,
    waitingTickets: d.waitingTickets,
    waitingHere: d.waitingHere,
    instances: { total: d.instancesTotal, answered: d.instancesAnswered, agreeing: d.instancesAgreeing },
  };
}

/** A few aligned lines for a person. */
export function descriptionText(d: DescriptionJson): string {
  const lines: string[] = [];
  if (!d.held) lines.push(`lock ${JSON.stringify(d.name)}: free`);
  else
    lines.push(
      `lock ${JSON.stringify(d.name)}: held by ${d.owner === "" ? "an unnamed owner" : JSON.stringify(d.owner)}`,
    );
  if (d.held) {
    lines.push(`  fencing token  ${d.fencingToken ?? "unknown"}`);
    if (d.heldSince !== null) lines.push(`  held since     ${d.heldSince} (${roughDuration(d.heldForMs ?? 0)} ago)`);
    lines.push(
      d.remainingTtlMs === null
        ? "  expires        never (the keys have no expiry)"
        : `  expires in     ${roughDuration(d.remainingTtlMs)} unless renewed`,
    );
  }
  lines.push(
    `  waiting        ${d.waitingTickets} ticket(s) on the instances, ${d.waitingHere} caller(s) through this sidecar`,
  );
  const { total, answered, agreeing } = d.instances;
  lines.push(`  instances      ${answered} of ${total} answered, ${agreeing} agree`);
  return `${lines.join("\n")}\n`;
}
