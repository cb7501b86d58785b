import { isSidecarStatus, type SidecarStatus } from "../../protocol/status-document.ts";
import { HealthClient } from "../../client/health-client.ts";
import { positionals, stringOption, type CommandArgs } from "../cli-args.ts";
import { callFailed } from "../cli-error.ts";
import { COMMON_OPTIONS, COMMON_USAGE, type CliContext, type Command } from "../command.ts";
import { connectionErrorText } from "../../util/error-text.ts";
import { EXIT } from "../exit-codes.ts";
import {
  CALL_TIMEOUT_MS,
  deadline,
  nonEmpty,
  sidecarConnection,
  type SidecarConnection,
} from "../sidecar-connection.ts";

export const DEFAULT_ADMIN_ADDRESS = "127.0.0.1:9090";
/** The sidecar's default admin port (LOCK_ADMIN_LISTEN). */
const DEFAULT_ADMIN_PORT = 9090;

export const statusCommand: Command = {
  name: "status",
  summary: "show whether the sidecar serves, and which instances are up",
  usage: `Usage: lockctl status [--admin-address HOST:PORT] [--json]

Asks the sidecar's grpc.health.v1 service whether it serves (a quorum of
instances answers), and its admin listener's GET /status which instances
answered the last health probe. Without --admin-address the admin listener
is looked for on the --address host at the default admin port, ${DEFAULT_ADMIN_PORT}.
Prints text, or one JSON object with --json:
{"address","admin","health","status":{"serving","quorum","reachable","instances":[{"name","up"}]}}
("status" is null when the admin listener could not be read).

Options:
  --admin-address HOST:PORT   the sidecar's admin listener (env LOCK_ADMIN_ADDRESS; default: the
                              --address host, port ${DEFAULT_ADMIN_PORT})
  --json                      print JSON instead of text
${COMMON_USAGE}

Exit codes: 0 serving, 2 usage, 4 not serving or unreachable, 5 other error.
Instance states are informative: failing to read them does not change the code.`,
  options: { ...COMMON_OPTIONS, "admin-address": { type: "string" }, json: { type: "boolean" } },

  async run(args: CommandArgs, ctx: CliContext): Promise<number> {
    positionals(args, []);
    const connection = sidecarConnection(args, ctx);
    const { address } = connection;
    const given = stringOption(args, "admin-address") ?? nonEmpty(ctx.env["LOCK_ADMIN_ADDRESS"]);
    const adminAddress = given ?? adminAddressOf(address);
    const [health, status] = await Promise.all([checkHealth(connection), readStatus(adminAddress)]);
    // Which sidecar the instance states come from: the admin listener is found apart from --address.
    const source = given === undefined ? " (the --address host's default admin port; --admin-address to change)" : "";
    if (args.values["json"] === true) {
      ctx.out(
        `${JSON.stringify({ address, admin: adminAddress, health: health.status, status: status.ok ? status.value : null })}\n`,
      );
    } else {
      ctx.out(`sidecar ${address}: ${health.status}\n`);
      if (status.ok) {
        const { reachable, quorum, instances } = status.value;
        ctx.out(
          `admin ${adminAddress}${source}: ${reachable} of ${instances.length} instances reachable (quorum ${quorum})\n`,
        );
        for (const { name, up, guard } of instances) {
          const votes = guard && guard !== "ok" ? ` (${guard}: votes not counted)` : "";
          ctx.out(`  ${up === null ? "unknown" : up ? "up" : "down"}${votes}\t${name}\n`);
        }
      }
    }
    if (health.error) ctx.err(`lockctl: ${health.error.message}\n`);
    if (!status.ok)
      ctx.err(`lockctl: instance states unknown: http://${adminAddress}/status${source}: ${status.error}\n`);
    if (health.error && health.error.exitCode !== EXIT.unavailable) return health.error.exitCode;
    return health.status === "SERVING" ? EXIT.ok : EXIT.unavailable;
  },
};

/** The admin listener beside a gRPC address: the same host, the default admin port. */
export function adminAddressOf(address: string): string {
  const match = /^(?:dns:(?:\/\/[^/]*\/)?)?(\[[^\]]+\]|[^:/[\]]+)(?::\d+)?$/.exec(address);
  return match ? `${match[1]}:${DEFAULT_ADMIN_PORT}` : DEFAULT_ADMIN_ADDRESS;
}

async function checkHealth({
  address,
  credentials,
  channelOptions,
}: SidecarConnection): Promise<{ status: string; error?: ReturnType<typeof callFailed> }> {
  const client = new HealthClient(address, credentials, channelOptions);
  try {
    return { status: await client.check("", { deadline: deadline() }) };
  } catch (error) {
    return { status: "UNREACHABLE", error: callFailed(`health check of ${address}`, error) };
  } finally {
    client.close();
  }
}

async function readStatus(
  adminAddress: string,
): Promise<{ ok: true; value: SidecarStatus } | { ok: false; error: string }> {
  try {
    const response = await fetch(`http://${adminAddress}/status`, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
    if (!response.ok) return { ok: false, error: `HTTP ${response.status}` };
    const body: unknown = await response.json();
    return isSidecarStatus(body) ? { ok: true, value: body } : { ok: false, error: "not a status document" };
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return {
      ok: false,
      error:
        connectionErrorText(adminAddress, error) ?? `${error instanceof Error ? error.message : String(error)}${cause}`,
    };
  }
}
