/**
 * A minimal reader of the Prometheus text exposition format for tests:
 * every sample keyed by its name and its labels in sorted order, so that
 * assertions do not depend on the order a library prints labels in.
 */
export class Samples {
  readonly #values = new Map<string, number>();

  constructor(text: string) {
    for (const line of text.split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
      if (!match) throw new Error(`not a sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, key, value] of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
        labels[key!] = value!;
      this.#values.set(seriesKey(match[1]!, labels), Number(match[3]));
    }
  }

  /** The sample's value; undefined when the series is absent. */
  get(name: string, labels: Record<string, string> = {}): number | undefined {
    return this.#values.get(seriesKey(name, labels));
  }

  /** Like `get`, but a missing series is an error (names the series). */
  value(name: string, labels: Record<string, string> = {}): number {
    const value = this.get(name, labels);
    if (value === undefined) throw new Error(`no sample ${seriesKey(name, labels)}`);
    return value;
  }

  /** Whether any series of this metric name exists. */
  has(name: string): boolean {
    for (const key of this.#values.keys()) if (key === name || key.startsWith(`${name}{`)) return true;
    return false;
  }
}

function seriesKey(name: string, labels: Record<string, string>): string {
  const pairs = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]}"`);
  return pairs.length === 0 ? name : `${name}{${pairs.join(",")}}`;
}

/** GETs /metrics from an admin listener on 127.0.0.1 and parses it. */
export async function scrape(adminPort: number): Promise<Samples> {
  const response = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  return new Samples(await response.text());
}
