import { packageVersion } from "../config/version.ts";
import { CliError, usageError } from "./cli-error.ts";
import { parseCommandArgs } from "./cli-args.ts";
import type { CliContext, Command } from "./command.ts";
import { acquireCommand } from "./commands/acquire.ts";
import { describeCommand } from "./commands/describe.ts";
import { extendCommand } from "./commands/extend.ts";
import { holdCommand } from "./commands/hold.ts";
import { leasesCommand } from "./commands/leases.ts";
import { releaseCommand } from "./commands/release.ts";
import { statusCommand } from "./commands/status.ts";
import { EXIT } from "./exit-codes.ts";

export const COMMANDS: readonly Command[] = [
  acquireCommand,
  releaseCommand,
  extendCommand,
  holdCommand,
  describeCommand,
  leasesCommand,
  statusCommand,
];

export function mainUsage(): string {
  return `Usage: lockctl COMMAND [ARGS...] [--address HOST:PORT]

Takes, renews and gives back leases on named locks through a lock sidecar
(lock.v1.LockService over gRPC), and shows who holds a lock and which leases
a sidecar holds.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(9)} ${c.summary}`).join("\n")}

Run \`lockctl COMMAND --help\` for a command's options and exit codes,
\`lockctl --version\` for the version.
The sidecar's address comes from --address, else LOCK_ADDRESS, else 127.0.0.1:50051.
A sidecar serving over TLS takes --tls-ca FILE (and --tls-cert/--tls-key for mutual
TLS); see a command's --help.

Exit codes: 0 ok, 1 not acquired / not released, 2 usage, 3 lease lost
(or no longer held), 4 unavailable, 5 other error; hold exits with its
command's code when the command ran and the lease held; describe and
leases exit 0 whether the lock is held or free, and whatever they list.`;
}

/** Runs one lockctl invocation and resolves to its exit code; never throws. */
export async function runLockctl(argv: readonly string[], ctx: CliContext): Promise<number> {
  // --address may also come before the command.
  const leading: string[] = [];
  let at = 0;
  while (argv[at]?.startsWith("--address")) {
    leading.push(argv[at]!);
    if (argv[at]!.includes("=") || argv[at + 1] === undefined) at += 1;
    else leading.push(argv[(at += 2) - 1]!);
  }
  const [first, ...more] = argv.slice(at);
  const rest = [...leading, ...more];
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    (first === undefined ? ctx.err : ctx.out)(`${mainUsage()}\n`);
    return first === undefined ? EXIT.usage : EXIT.ok;
  }
  if (first === "--version") {
    ctx.out(`lockctl ${packageVersion()}\n`);
    return EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.name === first);
  try {
    if (!command) throw usageError(`unknown command ${JSON.stringify(first)}`);
    const args = parseCommandArgs(rest, command.options);
    if (args.values["help"] === true) {
      ctx.out(`${command.usage}\n`);
      return EXIT.ok;
    }
    return await command.run(args, ctx);
  } catch (error) {
    if (!(error instanceof CliError)) {
      ctx.err(
        `lockctl: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      return EXIT.error;
    }
    const hint = error.exitCode === EXIT.usage ? ` (see lockctl ${command ? `${command.name} ` : ""}--help)` : "";
    ctx.err(`lockctl: ${error.message}${hint}\n`);
    return error.exitCode;
  }
}
