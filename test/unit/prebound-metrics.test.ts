import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { PreboundCounter } from "../../src/metrics/prebound-counter.ts";
import { PreboundHistogram } from "../../src/metrics/prebound-histogram.ts";
import { Samples } from "../support/prometheus-text.ts";

/** The allocation-free metrics read through a real prom-client registry, as /metrics serves them. */
describe("prebound metrics", () => {
  it("exposes a histogram with cumulative buckets, inclusive upper bounds, +Inf, sum and count", async () => {
    const registry = new Registry();
    const histogram = new PreboundHistogram(registry, { name: "t_seconds", help: "test", buckets: [0.5, 0.001, 0.01] });
    const a = histogram.series({ path: "a" });
    histogram.series({ path: "b" });
    for (const v of [0.001, 0.0005, 0.3, 50]) a.observe(v);
    const text = await registry.metrics();
    expect(text).toContain("# TYPE t_seconds histogram");
    const s = new Samples(text);
    expect(s.value("t_seconds_bucket", { path: "a", le: "0.001" })).toBe(2);
    expect(s.value("t_seconds_bucket", { path: "a", le: "0.01" })).toBe(2);
    expect(s.value("t_seconds_bucket", { path: "a", le: "0.5" })).toBe(3);
    expect(s.value("t_seconds_bucket", { path: "a", le: "+Inf" })).toBe(4);
    expect(s.value("t_seconds_count", { path: "a" })).toBe(4);
    expect(s.value("t_seconds_sum", { path: "a" })).toBeCloseTo(50.3015, 6);
    // A series exists at 0 from the moment it is bound.
    expect(s.value("t_seconds_count", { path: "b" })).toBe(0);
    expect(s.value("t_seconds_bucket", { path: "b", le: "+Inf" })).toBe(0);
  });

  it("exposes a counter per bound series and hands out the same series for the same labels", async () => {
    const registry = new Registry();
    const counter = new PreboundCounter(registry, { name: "t_total", help: "test" });
    const x = counter.series({ rpc: "acquire", outcome: "acquired" });
    x.inc();
    counter.series({ outcome: "acquired", rpc: "acquire" }).inc();
    counter.series({ rpc: "acquire", outcome: "contended" });
    const text = await registry.metrics();
    expect(text).toContain("# TYPE t_total counter");
    const s = new Samples(text);
    expect(s.value("t_total", { rpc: "acquire", outcome: "acquired" })).toBe(2);
    expect(s.value("t_total", { rpc: "acquire", outcome: "contended" })).toBe(0);
    registry.resetMetrics();
    expect(new Samples(await registry.metrics()).value("t_total", { rpc: "acquire", outcome: "acquired" })).toBe(0);
  });

  it("escapes label values in the exposition", async () => {
    const registry = new Registry();
    new PreboundCounter(registry, { name: "t_total", help: "test" }).series({ instance: 'a"b\\c' }).inc();
    expect(await registry.metrics()).toContain('t_total{instance="a\\"b\\\\c"} 1');
  });
});
