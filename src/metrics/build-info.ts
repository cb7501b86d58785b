import { Gauge, type Registry } from "prom-client";
import { packageVersion } from "../config/version.ts";

/**
 * lock_build_info, always 1: its labels say which sidecar version runs on
 * which Node.js, so dashboards can tell the builds of a rolling upgrade apart.
 */
export function registerBuildInfo(registry: Registry): void {
  new Gauge({
    name: "lock_build_info",
    help: "Always 1; the labels say which sidecar version runs on which Node.js",
    labelNames: ["version", "node"],
    registers: [registry],
  }).set({ version: packageVersion(), node: process.version }, 1);
}
