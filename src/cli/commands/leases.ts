import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { HeldLease } from "../../../gen/lock/v1/lock_pb.ts";
import type { LockClient } from "../../client/lock-client.ts";
import { positionals, stringOption, type CommandArgs } from "../cli-args.ts";
import { callFailed, usageError } from "../cli-error.ts";
import { COMMON_OPTIONS, COMMON_USAGE, type CliContext, type Command } from "../command.ts";
import { EXIT } from "../exit-codes.ts";
import { roughDuration } from "../rough-duration.ts";
import { deadline, withClient } from "../sidecar-connection.ts";

/** A lease the sidecar holds, as lockctl prints it with --json: never a lease id. */
export interface HeldLeaseJson {
  name: string;
  owner: string;
  fencingToken: string;
  expiresAt: string | null;
  ttlMs: number | null;
  keptAlive: boolean;
  acquiredAt: string | null;
}

/** Stops a sidecar that hands out tokens for ever; far beyond LOCK_MAX_LEASES at the largest page. */
const MAX_PAGES = 100_000;

export const leasesCommand: Command = {
  name: "leases",
  summary: "list the leases the sidecar holds (names, owners, tokens; never lease ids)",
  usage: `Usage: lockctl leases [--json] [--page-size N]

Lists the leases the sidecar at --address holds now (granted or renewed
through it, not yet expired), ordered by lock name: owner, fencing token,
when it expires as the sidecar knows it, and whether a KeepAlive or Hold
stream keeps it alive. Lease ids are never shown. Every page is fetched.

Prints a table, or one JSON object with --json:
{"leases":[{"name","owner","fencingToken","expiresAt","ttlMs","keptAlive","acquiredAt"}]}
(acquiredAt is null for a lease another sidecar granted and this one renewed).

Options:
  --json                    print JSON instead of a table
  --page-size N             leases per call, 1 to 1000 (default: the sidecar's, 100)
${COMMON_USAGE}

Exit codes: 0 listed (also when there are none), 2 usage, 4 unavailable,
5 other error.`,
  options: { ...COMMON_OPTIONS, json: { type: "boolean" }, "page-size": { type: "string" } },

  async run(args: CommandArgs, ctx: CliContext): Promise<number> {
    positionals(args, []);
    const pageSize = pageSizeOption(args);
    const leases = await withClient(args, ctx, (client) => everyPage(client, pageSize)).catch((error: unknown) => {
      throw callFailed("leases", error);
    });
    const rows = leases.map(heldLeaseJson);
    ctx.out(args.values["json"] === true ? `${JSON.stringify({ leases: rows })}\n` : leasesTable(rows, Date.now()));
    return EXIT.ok;
  },
};

function pageSizeOption(args: CommandArgs): number {
  const text = stringOption(args, "page-size");
  if (text === undefined) return 0;
  if (!/^\d{1,4}$/.test(text) || Number(text) < 1 || Number(text) > 1000)
    throw usageError(`--page-size: ${JSON.stringify(text)} is not a whole number from 1 to 1000`);
  return Number(text);
}

async function everyPage(client: LockClient, pageSize: number): Promise<HeldLease[]> {
  const leases: HeldLease[] = [];
  let pageToken = "";
  for (let pages = 0; pages < MAX_PAGES; pages++) {
    const page = await client.listLeases({ pageSize, pageToken }, { deadline: deadline() });
    leases.push(...page.leases);
    if (page.nextPageToken === "") return leases;
    pageToken = page.nextPageToken;
  }
  throw new Error(`the sidecar kept sending next pages after ${MAX_PAGES}`);
}

export function heldLeaseJson(lease: HeldLease): HeldLeaseJson {
  return {
    name: lease.name,
    owner: lease.owner,
    fencingToken: lease.fencingToken.toString(),
    expiresAt: lease.expiresAt ? new Date(timestampMs(lease.expiresAt)).toISOString() : null,
    ttlMs: lease.ttl ? durationMs(lease.ttl) : null,
    keptAlive: lease.keptAlive,
    acquiredAt: lease.acquiredAt ? new Date(timestampMs(lease.acquiredAt)).toISOString() : null,
  };
}

/** One row per lease under a header, columns padded to their widest cell. */
export function leasesTable(rows: readonly HeldLeaseJson[], nowMs: number): string {
  if (rows.length === 0) return "no leases held by this sidecar\n";
  const cells = [
    ["NAME", "OWNER", "FENCING TOKEN", "EXPIRES IN", "KEPT ALIVE"],
    ...rows.map((r) => [
      r.name,
      r.owner === "" ? "-" : r.owner,
      r.fencingToken,
      r.expiresAt === null ? "-" : roughDuration(Date.parse(r.expiresAt) - nowMs),
      r.keptAlive ? "yes" : "no",
    ]),
  ];
  const widths = cells[0]!.map((_, column) => Math.max(...cells.map((row) => row[column]!.length)));
  return cells
    .map(
      (row) =>
        `${row
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join("  ")
          .trimEnd()}\n`,
    )
    .join("");
}
