import type { Metric, Registry } from "prom-client";
import { seriesKey } from "./series-key.ts";

export interface HistogramSeries {
  /** Records one value; allocation-free (a short bucket scan and three additions). */
  observe(value: number): void;
}

interface Series extends HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  /** Per bucket, not cumulative; values above the last bound only count in `count`. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram for hot paths. prom-client's own histogram hashes
 * its labels on every observation; here each series is bound once up front
 * and observing only touches its numbers. The registry reads it at scrape
 * time like any prom-client metric.
 */
export class PreboundHistogram {
  readonly name: string;
  readonly help: string;
  readonly #bounds: readonly number[];
  readonly #series: Series[] = [];

  constructor(registry: Registry, config: { name: string; help: string; buckets: readonly number[] }) {
    this.name = config.name;
    this.help = config.help;
    this.#bounds = [...config.buckets].sort((a, b) => a - b);
    // Not a prom-client class, but it answers get() the way the registry expects.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series with these labels, created (at 0) on the first request. */
  series(labels: Readonly<Record<string, string>> = {}): HistogramSeries {
    const key = seriesKey(labels);
    const existing = this.#series.find((s) => seriesKey(s.labels) === key);
    if (existing) return existing;
    const bounds = this.#bounds;
    const series: Series = {
      labels,
      counts: new Float64Array(bounds.length),
      sum: 0,
      count: 0,
      observe(value: number): void {
        let i = 0;
        while (i < bounds.length && value > bounds[i]!) i++;
        if (i < bounds.length) series.counts[i]! += 1;
        series.sum += value;
        series.count += 1;
      },
    };
    this.#series.push(series);
    return series;
  }

  /** The registry's view: cumulative buckets with `le`, then _sum and _count, per series. */
  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: { metricName: string; labels: Record<string, string | number>; value: number }[];
  }> {
    const values = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.#series) {
      let cumulative = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        cumulative += s.counts[i]!;
        values.push({ metricName: bucket, labels: { ...s.labels, le: this.#bounds[i]! }, value: cumulative });
      }
      values.push({ metricName: bucket, labels: { ...s.labels, le: "+Inf" }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...s.labels }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...s.labels }, value: s.count });
    }
    return { name: this.name, help: this.help, type: "histogram", aggregator: "sum", values };
  }

  reset(): void {
    for (const s of this.#series) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
