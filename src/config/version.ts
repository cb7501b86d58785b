import { readFileSync } from "node:fs";

let version: string | undefined;

/**
 * The version in package.json: what `--version` prints (sidecar and
 * lockctl) and the start-up log line carries. Read on first use; the image
 * ships package.json beside src/.
 */
export function packageVersion(): string {
  version ??= readVersion();
  return version;
}

function readVersion(): string {
  try {
    const parsed: unknown = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    const value =
      typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>)["version"] : undefined;
    return typeof value === "string" ? value : "unknown";
  } catch {
    return "unknown";
  }
}
