import { ConfigError } from "../config/load-config.ts";

export type SamplerName =
  | "always_on"
  | "always_off"
  | "traceidratio"
  | "parentbased_always_on"
  | "parentbased_always_off"
  | "parentbased_traceidratio";

/** Tracing as the standard OTEL_* variables ask for it. */
export interface TracingConfig {
  /** Where spans go: OTLP over HTTP with protobuf bodies. */
  endpoint: string;
  /** OTEL_SERVICE_NAME; undefined leaves it to OTEL_RESOURCE_ATTRIBUTES, then to "redlock-sidecar". */
  serviceName: string | undefined;
  /** OTEL_RESOURCE_ATTRIBUTES as written (key=value,key=value). */
  resourceAttributes: string;
  sampler: SamplerName;
  /** OTEL_TRACES_SAMPLER_ARG: the ratio of the traceidratio samplers. */
  samplerRatio: number;
}

type Env = Record<string, string | undefined>;

const SAMPLERS: readonly SamplerName[] = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
];

/** The OTLP/HTTP default endpoint for traces. */
const DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces";

/**
 * Reads the OTEL_* variables. Undefined means tracing is off: nothing is
 * loaded or installed. It is on when OTEL_TRACES_EXPORTER says otlp, or,
 * with that variable unset, when an OTLP endpoint is set. OTEL_SDK_DISABLED
 * and OTEL_TRACES_EXPORTER=none turn it off whatever else is set.
 */
export function tracingConfig(env: Env): TracingConfig | undefined {
  if (text(env, "OTEL_SDK_DISABLED")?.toLowerCase() === "true") return undefined;
  const exporters = (text(env, "OTEL_TRACES_EXPORTER") ?? "")
    .split(",")
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e !== "");
  if (exporters.includes("none")) return undefined;
  const other = exporters.find((e) => e !== "otlp");
  if (other !== undefined)
    throw new ConfigError(`OTEL_TRACES_EXPORTER=${other}: this sidecar exports traces with otlp only (or none)`);
  const tracesEndpoint = text(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const baseEndpoint = text(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
  if (exporters.length === 0 && tracesEndpoint === undefined && baseEndpoint === undefined) return undefined;
  checkProtocol(env);
  return {
    endpoint: endpointOf(tracesEndpoint, baseEndpoint),
    serviceName: text(env, "OTEL_SERVICE_NAME"),
    resourceAttributes: text(env, "OTEL_RESOURCE_ATTRIBUTES") ?? "",
    ...samplerOf(env),
  };
}

/** A variable's value, undefined when unset or blank (as the specification reads them). */
function text(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

function checkProtocol(env: Env): void {
  for (const name of ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]) {
    const protocol = text(env, name);
    if (protocol === undefined) continue;
    if (protocol !== "http/protobuf")
      throw new ConfigError(`${name}=${protocol}: this sidecar sends OTLP as http/protobuf only`);
    return;
  }
}

/** The traces endpoint is used as given; the base endpoint gets /v1/traces appended, as the specification says. */
function endpointOf(traces: string | undefined, base: string | undefined): string {
  if (traces !== undefined) return checkedUrl("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces);
  if (base === undefined) return DEFAULT_ENDPOINT;
  checkedUrl("OTEL_EXPORTER_OTLP_ENDPOINT", base);
  return `${base.endsWith("/") ? base : `${base}/`}v1/traces`;
}

function checkedUrl(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name}=${value}: not a URL (for example http://collector:4318)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new ConfigError(`${name}=${value}: OTLP is sent over http or https`);
  return value;
}

function samplerOf(env: Env): Pick<TracingConfig, "sampler" | "samplerRatio"> {
  const name = text(env, "OTEL_TRACES_SAMPLER")?.toLowerCase() ?? "parentbased_always_on";
  const sampler = SAMPLERS.find((s) => s === name);
  if (sampler === undefined)
    throw new ConfigError(`OTEL_TRACES_SAMPLER=${name}: expected one of ${SAMPLERS.join(", ")}`);
  const arg = text(env, "OTEL_TRACES_SAMPLER_ARG");
  if (arg === undefined || !sampler.endsWith("traceidratio")) return { sampler, samplerRatio: 1 };
  const ratio = Number(arg);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1)
    throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG=${arg}: expected a ratio from 0 to 1`);
  return { sampler, samplerRatio: ratio };
}
