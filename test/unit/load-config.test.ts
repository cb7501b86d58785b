import { describe, expect, it } from "vitest";
import { ConfigError, helpText, loadConfig } from "../../src/config/load-config.ts";
import { DEFAULT_OPTIONS, SETTINGS, type Setting } from "../../src/config/options.ts";
import { thrownBy } from "./support/lock-error.ts";

function configError(env: Record<string, string | undefined>, argv: readonly string[] = []): ConfigError {
  const error = thrownBy(() => loadConfig(env, argv));
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

const settingOf = (env: string): Setting => SETTINGS.find((s) => s.env === env)!;

describe("loadConfig: sources", () => {
  it("without env or flags: the documented defaults", () => {
    const options = loadConfig({}, []);
    expect(options).toEqual(DEFAULT_OPTIONS);
    expect(options).toMatchObject({
      instances: [],
      listen: "127.0.0.1:50051",
      defaultTtlMs: 10_000,
      minTtlMs: 100,
      maxTtlMs: 300_000,
      maxWaitMs: 300_000,
      keyPrefix: "redlock-sidecar:",
      instanceTimeoutMs: 50,
      retryDelayMs: 100,
      retryJitterMs: 100,
      fenceRetentionMs: 86_400_000,
      healthIntervalMs: 1000,
      shutdownGraceMs: 10_000,
      maxNameBytes: 512,
      waitTicketTtlMs: 1000,
      adminListen: "0.0.0.0:9090",
      logLevel: "info",
    });
  });

  it("every setting has a distinct LOCK_ env var and flag", () => {
    expect(new Set(SETTINGS.map((s) => s.env)).size).toBe(SETTINGS.length);
    expect(new Set(SETTINGS.map((s) => s.flag)).size).toBe(SETTINGS.length);
    for (const s of SETTINGS) expect(s.env).toMatch(/^LOCK_[A-Z_]+$/);
    expect(SETTINGS.map((s) => s.key).sort()).toEqual(Object.keys(DEFAULT_OPTIONS).sort());
  });

  it("reads the environment", () => {
    const options = loadConfig(
      {
        LOCK_DEFAULT_TTL: "5s",
        LOCK_MIN_TTL: "200ms",
        LOCK_MAX_TTL: "1h",
        LOCK_KEY_PREFIX: "tenant-a:",
        LOCK_MAX_NAME_BYTES: " 64 ",
        LOCK_LISTEN: "0.0.0.0:0",
        LOCK_INSTANCES: "redis://:pw@a:6379, rediss://b:6380/2 ,",
        UNRELATED: "ignored",
      },
      [],
    );
    expect(options).toMatchObject({
      defaultTtlMs: 5000,
      minTtlMs: 200,
      maxTtlMs: 3_600_000,
      keyPrefix: "tenant-a:",
      maxNameBytes: 64,
      listen: "0.0.0.0:0",
      instances: ["redis://:pw@a:6379", "rediss://b:6380/2"],
    });
  });

  it("an empty environment value counts as unset", () => {
    expect(loadConfig({ LOCK_DEFAULT_TTL: "", LOCK_LISTEN: "" }, [])).toEqual(DEFAULT_OPTIONS);
  });

  it("flags override the environment, in both spellings; the last flag wins", () => {
    const env = { LOCK_DEFAULT_TTL: "5s", LOCK_KEY_PREFIX: "env:" };
    expect(loadConfig(env, ["--default-ttl", "7s"]).defaultTtlMs).toBe(7000);
    expect(loadConfig(env, ["--default-ttl=8s"]).defaultTtlMs).toBe(8000);
    expect(loadConfig(env, ["--key-prefix", "flag:"]).keyPrefix).toBe("flag:");
    expect(loadConfig(env, ["--default-ttl=6s", "--default-ttl", "9s"]).defaultTtlMs).toBe(9000);
    // Untouched settings keep the environment's value.
    expect(loadConfig(env, ["--default-ttl", "7s"]).keyPrefix).toBe("env:");
  });

  it("a flag can set the instance list back to embedded", () => {
    expect(loadConfig({ LOCK_INSTANCES: "redis://a:1" }, ["--instances="]).instances).toEqual([]);
  });

  it("an '=' in a flag value is kept", () => {
    expect(loadConfig({}, ["--key-prefix=a=b:"]).keyPrefix).toBe("a=b:");
  });
});

describe("loadConfig: flag syntax errors", () => {
  it("unknown flag", () => {
    expect(configError({}, ["--nope", "1"]).message).toContain("unknown flag --nope");
  });

  it("a flag without a value names the flag", () => {
    expect(configError({}, ["--listen"]).message).toContain("flag --listen needs a value");
  });

  it("a positional argument", () => {
    expect(configError({}, ["serve"]).message).toContain('"serve"');
  });
});

describe("loadConfig: every value error names its setting", () => {
  const durations = SETTINGS.filter((s) => s.kind === "duration");

  it.each(durations.map((s) => [s.env, s] as const))("%s: not a duration (from env, then from the flag)", (_env, s) => {
    const fromEnv = configError({ [s.env]: "soon" }).message;
    expect(fromEnv).toContain(s.env);
    expect(fromEnv).toContain(`--${s.flag}`);
    expect(fromEnv).toContain('"soon"');
    const fromFlag = configError({}, [`--${s.flag}`, "soon"]).message;
    expect(fromFlag).toContain(`--${s.flag}`);
    expect(fromFlag).toContain(s.env);
  });

  it.each(durations.filter((s) => s.min !== undefined && s.min > 0).map((s) => [s.env, s] as const))(
    "%s: one millisecond below the minimum",
    (_env, s) => {
      const message = configError({ [s.env]: `${s.min! - 1}ms` }).message;
      expect(message).toContain(s.env);
      expect(message).toMatch(/below the minimum/);
    },
  );

  it.each(durations.map((s) => [s.env, s] as const))("%s: one millisecond above the maximum", (_env, s) => {
    const message = configError({ [s.env]: `${s.max! + 1}ms` }).message;
    expect(message).toContain(s.env);
    expect(message).toMatch(/above the maximum/);
  });

  it("the bound is shown as a duration", () => {
    expect(configError({ LOCK_MIN_TTL: "9ms" }).message).toBe(
      "LOCK_MIN_TTL / --min-ttl: 9ms is below the minimum 10ms",
    );
    expect(configError({}, ["--max-ttl=25h"]).message).toBe("--max-ttl (LOCK_MAX_TTL): 25h is above the maximum 24h");
  });

  it("bounds are inclusive", () => {
    const s = settingOf("LOCK_INSTANCE_TIMEOUT");
    expect(loadConfig({ LOCK_INSTANCE_TIMEOUT: `${s.min}ms` }, []).instanceTimeoutMs).toBe(s.min);
    expect(loadConfig({ LOCK_RETRY_DELAY: "0ms" }, []).retryDelayMs).toBe(0);
    expect(loadConfig({ LOCK_MAX_WAIT: "24h" }, []).maxWaitMs).toBe(86_400_000);
  });

  it.each([
    ["abc", "whole number"],
    ["1.5", "whole number"],
    ["-1", "whole number"],
    ["0", "below the minimum 1"],
    ["65537", "above the maximum 65536"],
  ])("LOCK_MAX_NAME_BYTES=%s: %s", (value, problem) => {
    const message = configError({ LOCK_MAX_NAME_BYTES: value }).message;
    expect(message).toContain("LOCK_MAX_NAME_BYTES");
    expect(message).toContain(problem);
  });

  it.each(["localhost", "host:", ":50051", "host:65536", "host:port", "a b:1", "[::1]"])(
    "LOCK_LISTEN=%j is not host:port",
    (value) => {
      expect(configError({ LOCK_LISTEN: value }).message).toContain("LOCK_LISTEN");
    },
  );

  it.each(["localhost:50051", "0.0.0.0:0", "[::1]:65535", "[::]:50051"])("LOCK_LISTEN=%j is accepted", (value) => {
    expect(loadConfig({ LOCK_LISTEN: value }, []).listen).toBe(value);
  });
});

describe("loadConfig: yes/no settings", () => {
  it("LOCK_ALLOW_EVICTION is false unless set to true", () => {
    expect(loadConfig({}, []).allowEviction).toBe(false);
    expect(loadConfig({ LOCK_ALLOW_EVICTION: "true" }, []).allowEviction).toBe(true);
    expect(loadConfig({ LOCK_ALLOW_EVICTION: "true" }, ["--allow-eviction=false"]).allowEviction).toBe(false);
    expect(configError({ LOCK_ALLOW_EVICTION: "yes" }).message).toBe(
      'LOCK_ALLOW_EVICTION / --allow-eviction: "yes" is not true or false',
    );
  });

  it("the flag alone means true, before another flag or at the end", () => {
    expect(loadConfig({}, ["--allow-eviction"]).allowEviction).toBe(true);
    expect(loadConfig({}, ["--allow-eviction", "--listen", "127.0.0.1:1"])).toMatchObject({
      allowEviction: true,
      listen: "127.0.0.1:1",
    });
    expect(loadConfig({}, ["--allow-eviction", "false"]).allowEviction).toBe(false);
  });
});

describe("loadConfig: settings with a fixed set of values", () => {
  it.each(SETTINGS.filter((s) => s.choices !== undefined).map((s) => [s.env, s] as const))(
    "%s accepts each choice and names itself otherwise",
    (_env, s) => {
      for (const choice of s.choices!) expect(loadConfig({ [s.env]: choice }, [])[s.key]).toBe(choice);
      const message = configError({ [s.env]: "loudest" }).message;
      expect(message).toContain(s.env);
      expect(message).toContain('"loudest"');
      for (const choice of s.choices!) expect(message).toContain(choice);
    },
  );

  it("LOCK_LOG_LEVEL is one of pino's levels", () => {
    expect(loadConfig({ LOCK_LOG_LEVEL: "debug" }, []).logLevel).toBe("debug");
    expect(configError({}, ["--log-level", "INFO"]).message).toContain("--log-level (LOCK_LOG_LEVEL)");
  });
});

describe("loadConfig: instance URLs", () => {
  const PASSWORD = "hunter2-S3cret";

  it.each([
    ["not a URL", `redis//:${PASSWORD}@host:6379`],
    ["no scheme", `:${PASSWORD}@host:6379`],
    ["wrong scheme", `http://user:${PASSWORD}@host:6379`],
    ["no host", `redis://:${PASSWORD}@`],
    ["no slashes", `redis:${PASSWORD}@host:6379`],
    ["one bad among good", `redis://a:1,redis//:${PASSWORD}@b:2`],
  ])("%s: names LOCK_INSTANCES and never echoes the password", (_label, value) => {
    for (const error of [configError({ LOCK_INSTANCES: value }), configError({}, ["--instances", value])]) {
      expect(error.message).toContain("LOCK_INSTANCES");
      expect(error.message).not.toContain(PASSWORD);
      expect(error.message).not.toContain("hunter2");
    }
  });

  it("a wrong scheme is shown without credentials, with what to write instead", () => {
    expect(configError({ LOCK_INSTANCES: `http://user:${PASSWORD}@host:6379` }).message).toContain(
      '"http://***@host:6379" is not a redis:// or rediss:// URL; write redis://***@host:6379',
    );
  });

  // Regression: "localhost:6379" parses as a URL of scheme "localhost:", and was reported as "localhost://".
  it.each([
    ["localhost:6379", "redis://localhost:6379"],
    ["127.0.0.1:6379", "redis://127.0.0.1:6379"],
    ["cache-1", "redis://cache-1"],
    ["[::1]:6379/2", "redis://[::1]:6379/2"],
    [`:${PASSWORD}@host:6379`, "redis://***@host:6379"],
  ])("host:port without a scheme (%j) is named as given, with the URL to write", (value, write) => {
    const message = configError({ LOCK_INSTANCES: value }).message;
    expect(message).toBe(
      `LOCK_INSTANCES / --instances: ${JSON.stringify(value.replace(`:${PASSWORD}`, "***"))} is not a redis:// or rediss:// URL; write ${write}`,
    );
    expect(configError({}, ["--instances", `redis://a:1,${value}`]).message).toContain(`write ${write}`);
  });

  it("the same instance twice is refused, without echoing passwords", () => {
    const message = configError({
      LOCK_INSTANCES: `redis://:${PASSWORD}@a:6379/0,redis://b:6379,redis://:other@a:6379/1`,
    }).message;
    expect(message).toContain("LOCK_INSTANCES");
    expect(message).toContain("twice");
    expect(message).not.toContain(PASSWORD);
  });

  it("different ports of one host are different instances", () => {
    expect(loadConfig({ LOCK_INSTANCES: "redis://a:6379,redis://a:6380,redis://a:6381" }, []).instances).toHaveLength(
      3,
    );
  });

  // Regression: redis: URLs get no default port or lowercased host from the
  // URL parser; one server listed twice would get two votes.
  it("an instance listed with and without its default port is refused as a duplicate", () => {
    expect(configError({ LOCK_INSTANCES: "redis://a,redis://a:6379,redis://b:6379" }).message).toContain("twice");
  });

  it("an instance listed with differently cased host names is refused as a duplicate", () => {
    expect(
      configError({ LOCK_INSTANCES: "redis://Cache-1:6379,redis://cache-1:6379,redis://b:6379" }).message,
    ).toContain("twice");
  });
});

describe("loadConfig: relations between settings", () => {
  it("min ttl above max ttl names both", () => {
    const message = configError({ LOCK_MIN_TTL: "10s", LOCK_MAX_TTL: "5s", LOCK_DEFAULT_TTL: "5s" }).message;
    expect(message).toContain("LOCK_MIN_TTL");
    expect(message).toContain("LOCK_MAX_TTL");
  });

  it.each([
    ["below min", { LOCK_DEFAULT_TTL: "50ms" }],
    ["above max", { LOCK_DEFAULT_TTL: "10m" }],
    ["above a lowered max", { LOCK_MAX_TTL: "5s" }], // default 10s
    ["below a raised min", { LOCK_MIN_TTL: "11s" }], // default 10s
  ])("default ttl %s names LOCK_DEFAULT_TTL and the bounds", (_label, env) => {
    const message = configError(env).message;
    expect(message).toContain("LOCK_DEFAULT_TTL");
    expect(message).toContain("LOCK_MIN_TTL");
    expect(message).toContain("LOCK_MAX_TTL");
  });

  it("min = default = max is allowed", () => {
    expect(loadConfig({ LOCK_MIN_TTL: "2s", LOCK_DEFAULT_TTL: "2s", LOCK_MAX_TTL: "2s" }, [])).toMatchObject({
      minTtlMs: 2000,
      defaultTtlMs: 2000,
      maxTtlMs: 2000,
    });
  });

  it("min ttl under twice the instance timeout names both", () => {
    // Defaults: min ttl 100 ms, instance timeout 50 ms: exactly twice is fine.
    expect(loadConfig({}, []).minTtlMs).toBe(2 * loadConfig({}, []).instanceTimeoutMs);
    const message = configError({ LOCK_INSTANCE_TIMEOUT: "51ms" }).message;
    expect(message).toContain("LOCK_MIN_TTL");
    expect(message).toContain("LOCK_INSTANCE_TIMEOUT");
  });

  it("fence retention shorter than the max ttl names both", () => {
    const message = configError({ LOCK_MAX_TTL: "24h", LOCK_FENCE_RETENTION: "1h" }).message;
    expect(message).toContain("LOCK_FENCE_RETENTION");
    expect(message).toContain("LOCK_MAX_TTL");
    expect(loadConfig({ LOCK_MAX_TTL: "1h", LOCK_FENCE_RETENTION: "1h" }, []).fenceRetentionMs).toBe(3_600_000);
  });

  it("relations are checked on the final values, after flags", () => {
    // The env alone would be invalid; the flag repairs it.
    expect(loadConfig({ LOCK_DEFAULT_TTL: "50ms" }, ["--default-ttl", "1s"]).defaultTtlMs).toBe(1000);
    // The env alone is valid; the flag breaks it.
    expect(configError({ LOCK_DEFAULT_TTL: "1s" }, ["--max-ttl", "500ms"]).message).toContain("LOCK_DEFAULT_TTL");
  });
});

describe("helpText", () => {
  it("lists every flag, env var and default", () => {
    const text = helpText();
    for (const s of SETTINGS) {
      expect(text).toContain(`--${s.flag}`);
      expect(text).toContain(s.env);
    }
    expect(text).toContain("10s"); // default ttl, as a duration
    expect(text).toContain("(embedded)");
    expect(text).toContain("--version");
  });
});
