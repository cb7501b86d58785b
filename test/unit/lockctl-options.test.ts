import { afterEach, describe, expect, it, vi } from "vitest";
import { closestOption, editDistance } from "../../src/cli/closest-option.ts";
import { adminAddressOf } from "../../src/cli/commands/status.ts";
import { runLockctl } from "../../src/cli/run-lockctl.ts";
import { noticeLongWait, WAIT_NOTICE_AFTER_MS } from "../../src/cli/wait-notice.ts";

/** lockctl's option errors in its own words, in-process: none of these reach a sidecar. */
describe("lockctl options", () => {
  async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = "";
    let err = "";
    // An address nothing listens on: a call reaching the network would exit 4, not 2.
    const code = await runLockctl(argv, {
      env: { LOCK_ADDRESS: "127.0.0.1:1" },
      out: (t) => (out += t),
      err: (t) => (err += t),
    });
    return { code, out, err };
  }

  it.each([
    [["acquire", "x", "--tll", "5s"], "unknown option --tll; did you mean --ttl?"],
    // A swap of two neighbours is one edit.
    [["acquire", "x", "--wiat", "5s"], "unknown option --wiat; did you mean --wait?"],
    [["hold", "x", "--kill-afetr", "1s", "--", "true"], "unknown option --kill-afetr; did you mean --kill-after?"],
    [["status", "--admin", "h:1"], "unknown option --admin; did you mean --admin-address?"],
    [["status", "--jsno"], "unknown option --jsno; did you mean --json?"],
    [["acquire", "x", "--frobnicate"], "unknown option --frobnicate (see"],
    [["acquire", "x", "-z"], "unknown option -z (see"],
    [["acquire", "x", "--ttl"], "--ttl needs a value (see"],
    [
      ["acquire", "x", "--ttl", "--wait", "5s"],
      '--ttl needs a value, not "--wait" (write --ttl=--wait if that is the value)',
    ],
    [["status", "--json=yes"], '--json takes no value (got "yes")'],
    [["acquire", "x", "--ttl", "1m30"], '--ttl: "1m30" is not a duration like 250ms, 10s or 1m30s'],
    [
      ["acquire", "x", "--ttl", "99999999999999999h"],
      '--ttl: "99999999999999999h" is out of range (at most 87660000h)',
    ],
    [["hold", "x", "--wait", "87660001h", "--", "true"], '--wait: "87660001h" is out of range'],
  ])("%j exits 2: %s", async (argv, message) => {
    const { code, out, err } = await run(...argv);
    expect(code).toBe(2);
    expect(out).toBe("");
    expect(err).toContain(`lockctl: ${message}`);
    // Never Node's parseArgs text.
    expect(err).not.toMatch(/Unknown option '|argument missing|To specify a positional/);
  });

  it("takes compound durations and values starting with '-' written inline, then goes on to the (absent) sidecar", async () => {
    for (const argv of [
      ["acquire", "x", "--ttl", "1m30s", "--wait", "1h2m3.5s"],
      ["acquire", "x", "--owner=-me"],
    ]) {
      const { code, err } = await run(...argv);
      expect({ argv, code }).toEqual({ argv, code: 4 });
      expect(err).toMatch(/UNAVAILABLE/);
    }
  });
});

describe("status without --admin-address", () => {
  it("looks for the admin listener on the --address host and says so", async () => {
    let out = "";
    let err = "";
    const code = await runLockctl(["status", "--json", "--address", "127.0.0.2:1"], {
      env: {},
      out: (t) => (out += t),
      err: (t) => (err += t),
    });
    expect(code).toBe(4);
    expect(JSON.parse(out)).toMatchObject({ address: "127.0.0.2:1", admin: "127.0.0.2:9090", health: "UNREACHABLE" });
    expect(err).toMatch(
      /instance states unknown: http:\/\/127\.0\.0\.2:9090\/status \(the --address host's default admin port; --admin-address to change\)/,
    );
  });
});

describe("closestOption", () => {
  const names = ["ttl", "wait", "owner", "address", "tls", "tls-ca", "tls-cert", "tls-key", "help"];

  it.each([
    ["tll", "ttl"],
    ["wiat", "wait"],
    ["ownr", "owner"],
    ["adress", "address"],
    ["tls-cat", "tls-ca"],
    ["addr", "address"],
  ])("%s -> %s", (typed, expected) => {
    expect(closestOption(typed, names)).toBe(expected);
  });

  it.each(["frobnicate", "x", "zz", "verbose"])("%s -> nothing", (typed) => {
    expect(closestOption(typed, names)).toBeUndefined();
  });

  it("counts a swap of neighbours as one edit", () => {
    expect(editDistance("wiat", "wait")).toBe(1);
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(editDistance("", "abc")).toBe(3);
  });
});

describe("status: the admin address beside --address", () => {
  it.each([
    ["127.0.0.1:50051", "127.0.0.1:9090"],
    ["sidecar.internal:7000", "sidecar.internal:9090"],
    ["[::1]:50051", "[::1]:9090"],
    ["dns:///lock.example:50051", "lock.example:9090"],
    ["localhost", "localhost:9090"],
    ["unix:///run/lock.sock", "127.0.0.1:9090"],
  ])("%s -> %s", (address, admin) => {
    expect(adminAddressOf(address)).toBe(admin);
  });
});

describe("the notice of a long wait", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function context(stderrIsTTY: boolean): { ctx: Parameters<typeof noticeLongWait>[0]; err: () => string } {
    let err = "";
    return { ctx: { env: {}, out: () => undefined, err: (t) => (err += t), stderrIsTTY }, err: () => err };
  }

  it("is written on a terminal once the wait has lasted a while, and not once the answer came", () => {
    vi.useFakeTimers();
    const waiting = context(true);
    noticeLongWait(waiting.ctx, "reports", 30_000);
    vi.advanceTimersByTime(WAIT_NOTICE_AFTER_MS - 1);
    expect(waiting.err()).toBe("");
    vi.advanceTimersByTime(1);
    expect(waiting.err()).toBe('lockctl: waiting for "reports", held elsewhere (up to 30s; Ctrl-C gives up)\n');

    const answered = context(true);
    const stop = noticeLongWait(answered.ctx, "reports", 30_000);
    stop();
    vi.advanceTimersByTime(60_000);
    expect(answered.err()).toBe("");
  });

  it("is never written when stderr is not a terminal, or for a short wait", () => {
    vi.useFakeTimers();
    const piped = context(false);
    noticeLongWait(piped.ctx, "reports", 30_000);
    const short = context(true);
    noticeLongWait(short.ctx, "reports", WAIT_NOTICE_AFTER_MS);
    vi.advanceTimersByTime(60_000);
    expect(piped.err()).toBe("");
    expect(short.err()).toBe("");
  });
});
