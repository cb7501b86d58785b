import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { formatDurationMs, parseDurationMs } from "../config/duration.ts";
import { looksLikeLeaseId } from "../protocol/lease-id-format.ts";
import { usageError } from "./cli-error.ts";
import { closestOption } from "./closest-option.ts";
import { COMMON_OPTIONS } from "./command.ts";

export interface CommandArgs {
  /** Arguments before `--` that are not options. */
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
  /** Everything after `--`; undefined without one. */
  rest: string[] | undefined;
}

/** The largest duration a request can carry (a protobuf Duration: 10,000 years). */
export const MAX_DURATION_MS = 315_576_000_000 * 1000;

/**
 * Parses one command's arguments: `--flag value` or `--flag=value`, options
 * anywhere before `--`, and everything after `--` kept verbatim (the
 * command `hold` runs). Mistakes are usage errors in lockctl's words; an
 * unknown option names the closest known one.
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
  // Not strict: the checks below say what is wrong, and Node's text never reaches users.
  const parsed = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true });
  for (const token of parsed.tokens) {
    if (token.kind === "option") checkOption(token, options);
  }
  const terminator = parsed.tokens.find((t) => t.kind === "option-terminator");
  const positionals = parsed.tokens.flatMap((t) =>
    t.kind === "positional" && (!terminator || t.index < terminator.index) ? [leaseIds.get(t.value) ?? t.value] : [],
  );
  const values = Object.fromEntries(
    Object.entries(parsed.values).map(([flag, value]) => [
      flag,
      typeof value === "string" ? (leaseIds.get(value) ?? value) : value,
    ]),
  ) as Record<string, string | boolean | undefined>;
  return {
    positionals,
    values,
    rest: terminator ? argv.slice(terminator.index + 1) : undefined,
  };
}

interface OptionToken {
  name: string;
  rawName: string;
  value?: string | undefined;
  inlineValue?: boolean | undefined;
}

function checkOption(token: OptionToken, options: ParseArgsOptionsConfig): void {
  const option = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
  if (!option) {
    // The command's own options first: on a tie they are the likelier meaning (--tll: --ttl, not --tls).
    const names = Object.keys(options).sort((a, b) => Number(a in COMMON_OPTIONS) - Number(b in COMMON_OPTIONS));
    const closest = token.rawName.startsWith("--") ? closestOption(token.name, names) : undefined;
    throw usageError(`unknown option ${token.rawName}${closest === undefined ? "" : `; did you mean --${closest}?`}`);
  }
  if (option.type === "boolean" && token.value !== undefined)
    throw usageError(`${token.rawName} takes no value (got ${JSON.stringify(token.value)})`);
  if (option.type === "string" && token.value === undefined) throw usageError(`${token.rawName} needs a value`);
  // "--ttl --wait 5s" forgot the TTL; a value that starts with "-" goes inline: --owner=-me.
  if (
    option.type === "string" &&
    !token.inlineValue &&
    token.value!.startsWith("-") &&
    !token.value!.startsWith("\u0000")
  ) {
    throw usageError(
      `${token.rawName} needs a value, not ${JSON.stringify(token.value)} (write ${token.rawName}=${token.value} if that is the value)`,
    );
  }
}

/** A duration option (`250ms`, `10s`, `1m30s`), or undefined when not given. */
export function durationOption(args: CommandArgs, flag: string): number | undefined {
  const text = args.values[flag];
  if (text === undefined) return undefined;
  const ms = typeof text === "string" ? parseDurationMs(text) : undefined;
  if (ms === undefined)
    throw usageError(`--${flag}: ${JSON.stringify(text)} is not a duration like 250ms, 10s or 1m30s`);
  if (ms > MAX_DURATION_MS)
    throw usageError(
      `--${flag}: ${JSON.stringify(text)} is out of range (at most ${formatDurationMs(MAX_DURATION_MS)})`,
    );
  return ms;
}

export function stringOption(args: CommandArgs, flag: string): string | undefined {
  const value = args.values[flag];
  return typeof value === "string" ? value : undefined;
}

/** Exactly `names.length` positionals, named in the error when some are missing. */
export function positionals(args: CommandArgs, names: readonly string[]): string[] {
  if (args.positionals.length < names.length)
    throw usageError(`missing ${names.slice(args.positionals.length).join(" and ")}`);
  if (args.positionals.length > names.length)
    throw usageError(`unexpected argument ${JSON.stringify(args.positionals[names.length])}`);
  return args.positionals;
}
