import type { SidecarOptions } from "../../src/config/options.ts";

/**
 * Instance timeouts for tests that assert exact outcomes rather than timing.
 * On a loaded 2-core machine (other suites running alongside) a 100 ms
 * instance timeout is sometimes missed, and a few misses open an instance's
 * circuit, turning a grant into UNAVAILABLE.
 */
export const TOLERANT: Pick<SidecarOptions, "instanceTimeoutMs" | "minTtlMs"> = {
  instanceTimeoutMs: 500,
  minTtlMs: 1000,
};
