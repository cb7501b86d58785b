import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseCommandArgs } from "../../src/cli/cli-args.ts";
import { extendCommand } from "../../src/cli/commands/extend.ts";
import { holdCommand } from "../../src/cli/commands/hold.ts";
import { COMMANDS, runLockctl } from "../../src/cli/run-lockctl.ts";

/** lockctl's command line, in-process: usage errors never reach a sidecar. */
describe("lockctl command line", () => {
  async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = "";
    let err = "";
    // An address nothing listens on: any call reaching the network would fail with 4, not 2.
    const code = await runLockctl(argv, {
      env: { LOCK_ADDRESS: "127.0.0.1:1" },
      out: (t) => (out += t),
      err: (t) => (err += t),
    });
    return { code, out, err };
  }

  it.each([
    [["acquire"], /missing NAME \(see lockctl acquire --help\)/],
    [["acquire", "a", "b"], /unexpected argument "b"/],
    [["acquire", "x", "--ttl", "ten"], /--ttl: "ten" is not a duration/],
    [["acquire", "x", "--wait"], /--wait/],
    [["acquire", "x", "--bogus"], /unknown option --bogus \(see lockctl acquire --help\)/],
    [["release", "x"], /missing LEASE_ID/],
    [["extend"], /missing NAME and LEASE_ID/],
    [["hold", "x"], /missing the command to run/],
    [["hold", "x", "--"], /missing the command to run/],
    [["status", "extra"], /unexpected argument "extra"/],
    [["describe"], /missing NAME \(see lockctl describe --help\)/],
    [["describe", "a", "b"], /unexpected argument "b"/],
    [["leases", "x"], /unexpected argument "x"/],
    [["leases", "--page-size", "0"], /--page-size: "0" is not a whole number from 1 to 1000/],
    [["leases", "--page-size", "1001"], /--page-size: "1001" is not a whole number from 1 to 1000/],
    [["frobnicate"], /unknown command "frobnicate" \(see lockctl --help\)/],
  ])("exits 2 for %j", async (argv, message) => {
    const { code, out, err } = await run(...argv);
    expect(code).toBe(2);
    expect(out).toBe("");
    expect(err).toMatch(message);
  });

  it("prints the main help on --help (exit 0) and when no command is given (exit 2)", async () => {
    const help = await run("--help");
    expect(help.code).toBe(0);
    for (const command of COMMANDS) expect(help.out).toContain(`  ${command.name.padEnd(9)} ${command.summary}`);
    const none = await run();
    expect(none.code).toBe(2);
    expect(none.err).toContain("Usage: lockctl COMMAND");
  });

  it("prints each command's help with its exit codes", async () => {
    for (const command of COMMANDS) {
      const { code, out } = await run(command.name, "--help");
      expect(code).toBe(0);
      expect(out).toMatch(new RegExp(`^Usage: lockctl ${command.name}`));
      expect(out).toMatch(/Exit codes:/);
    }
  });

  it("takes a lease id whose secret starts with - for the positional it is, not for options", async () => {
    const leaseId = `-${"A".repeat(26)}.42`;
    const args = parseCommandArgs(["job", leaseId, "--ttl", "5s"], extendCommand.options);
    expect(args.positionals).toEqual(["job", leaseId]);
    expect(args.values["ttl"]).toBe("5s");
    // Through the whole command line: past parsing, it reaches the (absent) sidecar: 4, not a usage error.
    const { code, err } = await run("release", "job", leaseId);
    expect(err).not.toMatch(/unknown option/);
    expect(code).toBe(4);
  });

  it("keeps everything after -- verbatim for hold, options included", () => {
    const args = parseCommandArgs(
      ["job", "--ttl", "5s", "--", "sh", "-c", "echo --ttl", "--wait"],
      holdCommand.options,
    );
    expect(args.positionals).toEqual(["job"]);
    expect(args.values["ttl"]).toBe("5s");
    expect(args.values["wait"]).toBeUndefined();
    expect(args.rest).toEqual(["sh", "-c", "echo --ttl", "--wait"]);
  });

  it("prints its version, the package's, on --version", async () => {
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    expect(await run("--version")).toEqual({ code: 0, out: `lockctl ${version}\n`, err: "" });
    expect((await run("--help")).out).toContain("lockctl --version");
  });

  // Regression: grpc-js' "No connection established. Last error: Error: connect
  // ECONNREFUSED ... Resolution note: " reached users as it came.
  it("says a sidecar refused the connection in its own words", async () => {
    const { code, err } = await run("acquire", "job");
    expect(code).toBe(4);
    expect(err).toBe('lockctl: acquire "job": UNAVAILABLE: connection refused by 127.0.0.1:1\n');
  });

  it("accepts --address before the command", async () => {
    const { code, err } = await run("--address", "127.0.0.1:1", "acquire");
    expect(code).toBe(2);
    expect(err).toMatch(/missing NAME/);
  });
});
