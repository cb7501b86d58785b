import { parseKeyPairsIntoRecord } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace";
import { packageVersion } from "../config/version.ts";
import type { TracingConfig } from "./tracing-config.ts";
import { Tracing } from "./tracing.ts";

/** Tracing that batches spans and sends them with OTLP (http/protobuf) as `config` says. */
export function otlpTracing(config: TracingConfig): { tracing: Tracing; serviceName: string } {
  const attributes = parseKeyPairsIntoRecord(config.resourceAttributes);
  const serviceName = config.serviceName ?? attributes["service.name"] ?? "redlock-sidecar";
  const resource = defaultResource().merge(
    resourceFromAttributes({ ...attributes, "service.name": serviceName, "service.version": packageVersion() }),
  );
  // Headers, timeout, compression and certificates the exporter reads from OTEL_EXPORTER_OTLP_* itself.
  const exporter = new OTLPTraceExporter({ url: config.endpoint });
  const tracing = new Tracing({
    spanProcessor: new BatchSpanProcessor({ exporter }),
    sampler: samplerOf(config),
    resource,
  });
  return { tracing, serviceName };
}

function samplerOf({ sampler, samplerRatio }: TracingConfig): Sampler {
  switch (sampler) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(samplerRatio);
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(samplerRatio) });
  }
}
