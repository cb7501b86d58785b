import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config/load-config.ts";
import { tracingConfig } from "../../src/tracing/tracing-config.ts";

const ENDPOINT = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" };

/** Which OTEL_* settings turn tracing on, where spans go, and the errors that name the variable. */
describe("tracingConfig", () => {
  it("is off unless an exporter or an endpoint is asked for", () => {
    expect(tracingConfig({})).toBeUndefined();
    expect(tracingConfig({ OTEL_SERVICE_NAME: "x", OTEL_TRACES_SAMPLER: "always_on" })).toBeUndefined();
    // Blank is unset, as the specification reads it.
    expect(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: " ", OTEL_TRACES_EXPORTER: "" })).toBeUndefined();
  });

  it("is off when disabled or told none, whatever else is set", () => {
    expect(tracingConfig({ ...ENDPOINT, OTEL_SDK_DISABLED: "TRUE" })).toBeUndefined();
    expect(tracingConfig({ ...ENDPOINT, OTEL_TRACES_EXPORTER: "none" })).toBeUndefined();
    expect(tracingConfig({ ...ENDPOINT, OTEL_SDK_DISABLED: "false" })?.endpoint).toBe(
      "http://collector:4318/v1/traces",
    );
  });

  it("sends to the traces endpoint as given, else to the base endpoint's /v1/traces, else to localhost", () => {
    expect(tracingConfig({ OTEL_TRACES_EXPORTER: "otlp" })?.endpoint).toBe("http://localhost:4318/v1/traces");
    expect(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://c:4318/base/" })?.endpoint).toBe(
      "https://c:4318/base/v1/traces",
    );
    expect(
      tracingConfig({ ...ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://traces:9999/custom" })?.endpoint,
    ).toBe("http://traces:9999/custom");
  });

  it("names the service and reads the sampler", () => {
    expect(tracingConfig(ENDPOINT)).toEqual({
      endpoint: "http://collector:4318/v1/traces",
      serviceName: undefined,
      resourceAttributes: "",
      sampler: "parentbased_always_on",
      samplerRatio: 1,
    });
    expect(
      tracingConfig({
        ...ENDPOINT,
        OTEL_SERVICE_NAME: "locks",
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod",
        OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG: "0.25",
      }),
    ).toMatchObject({
      serviceName: "locks",
      resourceAttributes: "deployment.environment=prod",
      sampler: "parentbased_traceidratio",
      samplerRatio: 0.25,
    });
  });

  it("refuses what it cannot do with an error naming the variable", () => {
    const refused = (env: Record<string, string>): string => {
      try {
        tracingConfig(env);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error("accepted");
    };
    expect(refused({ OTEL_TRACES_EXPORTER: "otlp,zipkin" })).toMatch(/^OTEL_TRACES_EXPORTER=zipkin: /);
    expect(refused({ ...ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).toMatch(
      /^OTEL_EXPORTER_OTLP_PROTOCOL=grpc: /,
    );
    expect(
      refused({
        ...ENDPOINT,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
      }),
    ).toMatch(/^OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http\/json: /);
    expect(refused({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" })).toMatch(/^OTEL_EXPORTER_OTLP_ENDPOINT=/);
    expect(refused({ ...ENDPOINT, OTEL_TRACES_SAMPLER: "sometimes" })).toMatch(/^OTEL_TRACES_SAMPLER=sometimes: /);
    expect(refused({ ...ENDPOINT, OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "2" })).toMatch(
      /^OTEL_TRACES_SAMPLER_ARG=2: /,
    );
  });
});
