import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { parseDurationMs } from "../config/duration.ts";
import { looksLikeLeaseId } from "../engine/lease-id.ts";
import { usageError } from "./cli-error.ts";

export interface CommandArgs {
  /** Arguments before `--` that are not options. */
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
  /** Everything after `--`; undefined without one. */
  rest: string[] | undefined;
}

/**
 * Parses one command's arguments: `--flag value` or `--flag=value`, options
 * anywhere before `--`, and everything after `--` kept verbatim (the
 * command `hold` runs). Unknown options are usage errors.
 */
export function parseCommandArgs(argv: readonly string[], options: ParseArgsOptionsConfig): CommandArgs {
  // A lease id whose secret starts with "-" (1 in 64) would read as options:
  // it goes through parseArgs as a placeholder and comes back as a positional.
  const end = argv.indexOf("--") < 0 ? argv.length : argv.indexOf("--");
  const leaseIds = new Map<string, string>();
  const args = argv.map((arg, i) => {
    if (i >= end || !arg.startsWith("-") || !looksLikeLeaseId(arg)) return arg;
    const placeholder = `\u0000lease-id-${i}`;
    leaseIds.set(placeholder, arg);
    return placeholder;
  });
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    throw usageError(error instanceof Error ? error.message : String(error));
  }
  const terminator = parsed.tokens.find((t) => t.kind === "option-terminator");
  const positionals = parsed.tokens.flatMap((t) => (t.kind === "positional" && (!terminator || t.index < terminator.index) ? [leaseIds.get(t.value) ?? t.value] : []));
  const values = Object.fromEntries(
    Object.entries(parsed.values).map(([flag, value]) => [flag, typeof value === "string" ? (leaseIds.get(value) ?? value) : value]),
  ) as Record<string, string | boolean | undefined>;
  return {
    positionals,
    values,
    rest: terminator ? argv.slice(terminator.index + 1) : undefined,
  };
}

/** A duration option (`250ms`, `10s`, `5m`), or undefined when not given. */
export function durationOption(args: CommandArgs, flag: string): number | undefined {
  const text = args.values[flag];
  if (text === undefined) return undefined;
  const ms = typeof text === "string" ? parseDurationMs(text) : undefined;
  if (ms === undefined) throw usageError(`--${flag}: ${JSON.stringify(text)} is not a duration like 250ms, 10s or 5m`);
  return ms;
}

export function stringOption(args: CommandArgs, flag: string): string | undefined {
  const value = args.values[flag];
  return typeof value === "string" ? value : undefined;
}

/** Exactly `names.length` positionals, named in the error when some are missing. */
export function positionals(args: CommandArgs, names: readonly string[]): string[] {
  if (args.positionals.length < names.length) throw usageError(`missing ${names.slice(args.positionals.length).join(" and ")}`);
  if (args.positionals.length > names.length) throw usageError(`unexpected argument ${JSON.stringify(args.positionals[names.length])}`);
  return args.positionals;
}
