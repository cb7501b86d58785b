import { registerHooks } from "node:module";

/**
 * Loaded with `node --import` before the sidecar: records every
 * OpenTelemetry package the process loads and prints them on exit, so a
 * test can show that a sidecar without tracing loads none.
 */
const loaded = new Set<string>();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    const match = /\/node_modules\/(@opentelemetry\/[^/]+)\//.exec(result.url);
    if (match) loaded.add(match[1]!);
    return result;
  },
});
process.on("exit", () => process.stderr.write(`opentelemetry loaded: ${JSON.stringify([...loaded].sort())}\n`));
