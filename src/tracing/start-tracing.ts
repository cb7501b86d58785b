import type { Logger } from "../log/logger.ts";
import { tracingConfig } from "./tracing-config.ts";
import type { Tracing } from "./tracing.ts";

/**
 * Tracing as the OTEL_* variables ask for it, or undefined when they do
 * not: then no OpenTelemetry SDK module is even loaded (it is imported on
 * demand), and the sidecar serves calls exactly as without tracing.
 */
export async function startTracing(
  env: Record<string, string | undefined>,
  logger: Logger,
): Promise<Tracing | undefined> {
  const config = tracingConfig(env);
  if (config === undefined) return undefined;
  const { otlpTracing } = await import("./otlp-tracing.ts");
  const { tracing, serviceName } = otlpTracing(config);
  const sampler = config.sampler.endsWith("traceidratio")
    ? `${config.sampler}(${config.samplerRatio})`
    : config.sampler;
  logger.info({ endpoint: config.endpoint, serviceName, sampler }, "tracing on: spans sent with OTLP");
  return tracing;
}
