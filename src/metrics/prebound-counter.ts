import type { Metric, Registry } from "prom-client";
import { seriesKey } from "./series-key.ts";

export interface CounterSeries {
  /** Adds one; allocation-free. */
  inc(): void;
}

interface Series extends CounterSeries {
  readonly labels: Readonly<Record<string, string>>;
  value: number;
}

/**
 * A Prometheus counter for hot paths: each series is bound once up front, so
 * counting is one addition (prom-client's counter hashes its labels on every
 * increment). The registry reads it at scrape time like any prom-client metric.
 */
export class PreboundCounter {
  readonly name: string;
  readonly help: string;
  readonly #series: Series[] = [];

  constructor(registry: Registry, config: { name: string; help: string }) {
    this.name = config.name;
    this.help = config.help;
    // Not a prom-client class, but it answers get() the way the registry expects.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series with these labels, created (at 0) on the first request. */
  series(labels: Readonly<Record<string, string>> = {}): CounterSeries {
    const key = seriesKey(labels);
    const existing = this.#series.find((s) => seriesKey(s.labels) === key);
    if (existing) return existing;
    const series: Series = {
      labels,
      value: 0,
      inc(): void {
        series.value += 1;
      },
    };
    this.#series.push(series);
    return series;
  }

  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: { labels: Record<string, string>; value: number }[];
  }> {
    return {
      name: this.name,
      help: this.help,
      type: "counter",
      aggregator: "sum",
      values: this.#series.map((s) => ({ labels: { ...s.labels }, value: s.value })),
    };
  }

  reset(): void {
    for (const s of this.#series) s.value = 0;
  }
}
