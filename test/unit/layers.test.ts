import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

// The layers of src/, lowest first; the folder layout is the architecture.
// A folder may import its own files, the base layers below it, and the layers
// below it in its own stack. Folders on one line are siblings: neither imports
// the other. "." is the files directly in src/: main.ts and the composition root.
const BASE = [["errors"], ["util"], ["log"], ["config"], ["protocol"]]; // shared by the sidecar and its clients
const SIDECAR = [
  ["redlock"], // pure Redlock math
  ["tls"], // certificate files, read and watched
  ["instances"], // one store each: Lua scripts, the in-process store, guards
  ["engine"], // leases over a quorum of instances
  ["observe"], // what the server reports, and the names of its outcomes
  ["metrics", "tracing"],
  ["server", "admin"], // gRPC API; admin HTTP
  ["."],
];
const CLIENT = [["client"], ["cli"]]; // the client package and lockctl: never the sidecar's code

interface Layer {
  stack: "base" | "sidecar" | "client";
  rank: number;
}

const LAYERS = new Map<string, Layer>();
BASE.forEach((folders, rank) => folders.forEach((f) => LAYERS.set(f, { stack: "base", rank })));
SIDECAR.forEach((folders, i) => folders.forEach((f) => LAYERS.set(f, { stack: "sidecar", rank: BASE.length + i })));
CLIENT.forEach((folders, i) => folders.forEach((f) => LAYERS.set(f, { stack: "client", rank: BASE.length + i })));

const ROOT = resolve(import.meta.dirname, "../..");
const SRC = join(ROOT, "src");

/** The layer folder of a path under src/: its first directory, or "." for files directly in src/. */
function folderOf(pathInSrc: string): string {
  const parts = pathInSrc.split("/");
  return parts.length === 1 ? "." : parts[0]!;
}

function mayImport(from: string, to: string): boolean {
  if (from === to) return true;
  const a = LAYERS.get(from)!;
  const b = LAYERS.get(to)!;
  return b.rank < a.rank && (b.stack === "base" || b.stack === a.stack);
}

interface Import {
  /** The importing file, relative to the repository. */
  file: string;
  /** The specifier as written. */
  specifier: string;
}

/** Each import that points to a folder not below the importer's, said in one line. */
function violations(imports: readonly Import[]): string[] {
  const found: string[] = [];
  for (const { file, specifier } of imports) {
    const from = folderOf(relative(SRC, join(ROOT, file)));
    const target = relative(SRC, resolve(dirname(join(ROOT, file)), specifier));
    // Outside src/: generated code and package.json, below every layer.
    if (target.startsWith("..")) continue;
    const to = folderOf(target);
    for (const folder of [from, to]) {
      if (!LAYERS.has(folder))
        found.push(`src/${folder}/ is not in the layer order: add it in test/unit/layers.test.ts`);
    }
    if (LAYERS.has(from) && LAYERS.has(to) && !mayImport(from, to)) {
      found.push(`${file} imports ${specifier}: ${from} may not import ${to}`);
    }
  }
  return [...new Set(found)];
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g;

function importsUnder(dir: string): Import[] {
  const imports: Import[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) imports.push(...importsUnder(path));
    else if (entry.name.endsWith(".ts")) {
      const file = relative(ROOT, path);
      for (const match of readFileSync(path, "utf8").matchAll(SPECIFIER)) imports.push({ file, specifier: match[1]! });
    }
  }
  return imports;
}

describe("layers", () => {
  it("no folder under src/ imports one above it", () => {
    const imports = importsUnder(SRC);
    expect(imports.length).toBeGreaterThan(100);
    expect(violations(imports)).toEqual([]);
  });

  it("names the file and the import that points up, or across to a sibling or the other stack", () => {
    expect(
      violations([
        { file: "src/engine/lock-engine.ts", specifier: "../server/health.ts" },
        { file: "src/metrics/sidecar-metrics.ts", specifier: "../tracing/spans.ts" },
        { file: "src/client/lock-client.ts", specifier: "../engine/lease-id.ts" },
        { file: "src/admin/sidecar-status.ts", specifier: "../server/health.ts" },
        { file: "src/server/health.ts", specifier: "../../gen/lock/v1/lock_pb.ts" },
        { file: "src/sidecar.ts", specifier: "./server/lock-service.ts" },
        { file: "src/cli/commands/status.ts", specifier: "../../protocol/status-document.ts" },
        { file: "src/cli/commands/status.ts", specifier: "../cli-args.ts" },
        { file: "src/bogus/x.ts", specifier: "../util/clock.ts" },
      ]),
    ).toEqual([
      "src/engine/lock-engine.ts imports ../server/health.ts: engine may not import server",
      "src/metrics/sidecar-metrics.ts imports ../tracing/spans.ts: metrics may not import tracing",
      "src/client/lock-client.ts imports ../engine/lease-id.ts: client may not import engine",
      "src/admin/sidecar-status.ts imports ../server/health.ts: admin may not import server",
      "src/bogus/ is not in the layer order: add it in test/unit/layers.test.ts",
    ]);
  });
});
