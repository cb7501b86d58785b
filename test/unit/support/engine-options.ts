import { DEFAULT_OPTIONS } from "../../../src/config/options.ts";
import type { EngineOptions } from "../../../src/engine/lock-engine.ts";

/**
 * The engine's options in unit tests: the sidecar passes its whole
 * configuration, so start from the defaults and fix what the tests' timings
 * depend on (retry delay + jitter 0.5 = 15 ms, 20 ms per instance call).
 */
export function engineTestOptions(keyPrefix: string): EngineOptions {
  return {
    ...DEFAULT_OPTIONS,
    keyPrefix,
    instanceTimeoutMs: 20,
    retryDelayMs: 10,
    retryJitterMs: 10,
    fenceRetentionMs: 60_000,
    waitTicketTtlMs: 1000,
  };
}
