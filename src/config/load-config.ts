import { accessSync, constants, statSync } from "node:fs";
import { formatDurationMs, parseDurationMs } from "./duration.ts";
import { DEFAULT_OPTIONS, SETTINGS, type Setting, type SidecarOptions } from "./options.ts";
import { errorCode } from "../util/error-text.ts";

/** Invalid configuration: the message names the setting (env var and flag). */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/**
 * Reads settings from `env`, then `argv` flags (`--default-ttl 5s` or
 * `--default-ttl=5s`), which override the environment, and checks every value
 * and the relations between them.
 */
export function loadConfig(env: Record<string, string | undefined>, argv: readonly string[]): SidecarOptions {
  const raw = new Map<Setting, { text: string; source: string }>();
  for (const setting of SETTINGS) {
    const text = env[setting.env];
    if (text !== undefined && text !== "") raw.set(setting, { text, source: setting.env });
  }
  for (const [flag, text] of parseFlags(argv)) {
    const setting = SETTINGS.find((s) => s.flag === flag);
    if (!setting) throw new ConfigError(`unknown flag --${flag} (see --help)`);
    raw.set(setting, { text, source: `--${flag}` });
  }
  const options: Record<string, unknown> = { ...DEFAULT_OPTIONS };
  for (const [setting, { text, source }] of raw)
    options[setting.key] = parseSetting(
      setting,
      text,
      source === setting.env ? describe(setting) : `${source} (${setting.env})`,
    );
  const result = options as unknown as SidecarOptions;
  checkRelations(result);
  return result;
}

export function helpText(): string {
  const lines = [
    "Usage: redlock-sidecar [--flag value ...]",
    "       redlock-sidecar --help | --version",
    "",
    "Settings (flag, environment variable, default):",
  ];
  for (const s of SETTINGS) {
    lines.push(`  --${s.flag.padEnd(18)} ${s.env.padEnd(22)} ${formatDefault(s)}`, `      ${s.help}`);
  }
  return lines.join("\n");
}

function parseFlags(argv: readonly string[]): [string, string][] {
  const flags: [string, string][] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--"))
      throw new ConfigError(`unexpected argument ${JSON.stringify(arg)} (flags look like --name value)`);
    const eq = arg.indexOf("=");
    if (eq >= 0) {
      flags.push([arg.slice(2, eq), arg.slice(eq + 1)]);
      continue;
    }
    const value = argv[i + 1];
    // A yes/no setting's flag alone means true: `--allow-eviction`.
    if (
      (value === undefined || value.startsWith("--")) &&
      SETTINGS.find((s) => s.flag === arg.slice(2))?.kind === "boolean"
    ) {
      flags.push([arg.slice(2), "true"]);
      continue;
    }
    if (value === undefined) throw new ConfigError(`flag ${arg} needs a value`);
    flags.push([arg.slice(2), value]);
    i++;
  }
  return flags;
}

function parseSetting(setting: Setting, text: string, where: string): unknown {
  switch (setting.kind) {
    case "duration": {
      const ms = parseDurationMs(text);
      if (ms === undefined)
        throw new ConfigError(`${where}: ${JSON.stringify(text)} is not a duration like 250ms, 10s, 5m or 1h`);
      return checkBounds(setting, ms, where, formatDurationMs);
    }
    case "integer": {
      if (!/^\d+$/.test(text.trim())) throw new ConfigError(`${where}: ${JSON.stringify(text)} is not a whole number`);
      return checkBounds(setting, Number(text.trim()), where, String);
    }
    case "string":
      if (setting.choices && !setting.choices.includes(text))
        throw new ConfigError(`${where}: ${JSON.stringify(text)} is not one of ${setting.choices.join(", ")}`);
      return text;
    case "boolean":
      if (text !== "true" && text !== "false")
        throw new ConfigError(`${where}: ${JSON.stringify(text)} is not true or false`);
      return text === "true";
    case "address":
      return parseAddress(text, where);
    case "urls":
      return text
        .split(",")
        .map((url) => url.trim())
        .filter((url) => url !== "")
        .map((url) => checkInstanceUrl(url, where));
    case "file":
      return checkReadableFile(text, where);
  }
}

function checkBounds(setting: Setting, value: number, where: string, show: (n: number) => string): number {
  if (setting.min !== undefined && value < setting.min)
    throw new ConfigError(`${where}: ${show(value)} is below the minimum ${show(setting.min)}`);
  if (setting.max !== undefined && value > setting.max)
    throw new ConfigError(`${where}: ${show(value)} is above the maximum ${show(setting.max)}`);
  return value;
}

function parseAddress(text: string, where: string): string {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(text.trim());
  if (!match || Number(match[2]) > 65_535)
    throw new ConfigError(`${where}: ${JSON.stringify(text)} is not host:port (for example 127.0.0.1:50051)`);
  return text.trim();
}

/** A missing or unreadable file stops start-up here; its contents are checked where they are used. */
function checkReadableFile(path: string, where: string): string {
  try {
    if (!statSync(path).isFile()) throw new ConfigError(`${where}: ${JSON.stringify(path)} is not a file`);
    accessSync(path, constants.R_OK);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`${where}: cannot read ${JSON.stringify(path)} (${errorCode(error) ?? "unreadable"})`);
  }
  return path;
}

const EXPECTED_URL = "(expected redis://[user:password@]host:port[/db] or rediss://...)";

/** [user:password@]host[:port][/db] without a scheme. */
const SCHEMELESS_ENDPOINT = /^(?:[^@/]*@)?(?:\[[0-9a-fA-F:.]+\]|[^:/@\s]+)(?::\d{1,5})?(?:\/\d+)?$/;

function checkInstanceUrl(url: string, where: string): string {
  const shown = JSON.stringify(withoutCredentials(url));
  // host:port without a scheme is the usual slip: say what to write instead.
  if (!url.includes("://")) {
    const hint = SCHEMELESS_ENDPOINT.test(url) ? `; write redis://${withoutCredentials(url)}` : ` ${EXPECTED_URL}`;
    throw new ConfigError(`${where}: ${shown} is not a redis:// or rediss:// URL${hint}`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`${where}: ${shown} is not a URL ${EXPECTED_URL}`);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new ConfigError(
      `${where}: ${shown} is not a redis:// or rediss:// URL; write ${withoutCredentials(url).replace(/^[^:]*:\/\//, "redis://")}`,
    );
  }
  if (!parsed.hostname) throw new ConfigError(`${where}: ${shown} has no host`);
  return url;
}

/** An entry as written with its user and password hidden: errors echo entries, never passwords. */
function withoutCredentials(url: string): string {
  const at = url.lastIndexOf("@");
  if (at < 0) return url;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0] ?? "";
  return `${scheme}***@${url.slice(at + 1)}`;
}

function checkRelations(o: SidecarOptions): void {
  const ttl = (s: string) => SETTINGS.find((x) => x.key === s)!;
  const name = (key: string) => describe(ttl(key));
  if (o.minTtlMs > o.maxTtlMs)
    throw new ConfigError(
      `${name("minTtlMs")} (${formatDurationMs(o.minTtlMs)}) exceeds ${name("maxTtlMs")} (${formatDurationMs(o.maxTtlMs)})`,
    );
  if (o.defaultTtlMs < o.minTtlMs || o.defaultTtlMs > o.maxTtlMs) {
    throw new ConfigError(
      `${name("defaultTtlMs")} (${formatDurationMs(o.defaultTtlMs)}) must lie within ${name("minTtlMs")} and ${name("maxTtlMs")}`,
    );
  }
  // A lease must outlive a few round trips, or every grant would be too slow to be valid.
  if (o.minTtlMs < 2 * o.instanceTimeoutMs) {
    throw new ConfigError(
      `${name("minTtlMs")} (${formatDurationMs(o.minTtlMs)}) must be at least twice ${name("instanceTimeoutMs")} (${formatDurationMs(o.instanceTimeoutMs)})`,
    );
  }
  if (o.fenceRetentionMs < o.maxTtlMs)
    throw new ConfigError(`${name("fenceRetentionMs")} must be at least ${name("maxTtlMs")}`);
  // A certificate without its key (or the reverse) is a half-done TLS set-up, never "TLS off".
  if ((o.tlsCertFile === "") !== (o.tlsKeyFile === ""))
    throw new ConfigError(`${name("tlsCertFile")} and ${name("tlsKeyFile")} must be set together`);
  if (o.tlsClientCaFile !== "" && o.tlsCertFile === "") {
    throw new ConfigError(
      `${name("tlsClientCaFile")} needs ${name("tlsCertFile")} and ${name("tlsKeyFile")}: client certificates are only asked for over TLS`,
    );
  }
  if ((o.instanceTlsCertFile === "") !== (o.instanceTlsKeyFile === "")) {
    throw new ConfigError(`${name("instanceTlsCertFile")} and ${name("instanceTlsKeyFile")} must be set together`);
  }
  const instanceTlsSet = o.instanceTlsCaFile !== "" || o.instanceTlsCertFile !== "";
  if (instanceTlsSet && !o.instances.some((u) => new URL(u).protocol === "rediss:")) {
    // Otherwise an operator could believe instance traffic is encrypted when no instance uses TLS.
    throw new ConfigError(
      `${name("instanceTlsCaFile")} / ${name("instanceTlsCertFile")} are set but no instance in ${name("instances")} is a rediss:// URL`,
    );
  }
  // Compared as the client connects: host names are case-blind, the port defaults to 6379.
  const endpoint = (u: string): string => {
    const url = new URL(u);
    return `${url.hostname.toLowerCase()}:${url.port || "6379"}`;
  };
  if (new Set(o.instances.map(endpoint)).size !== o.instances.length) {
    throw new ConfigError(
      `${name("instances")}: the same instance is listed twice; Redlock needs independent instances`,
    );
  }
}

function describe(s: Setting): string {
  return `${s.env} / --${s.flag}`;
}

function formatDefault(s: Setting): string {
  if (s.kind === "duration") return formatDurationMs(s.default as number);
  if (s.kind === "urls") return "(embedded)";
  if (s.kind === "file") return "(none)";
  return String(s.default);
}
