import { describe, expect, it } from "vitest";
import { formatDurationMs, parseDurationMs } from "../../src/config/duration.ts";

describe("parseDurationMs", () => {
  it.each([
    ["250ms", 250],
    ["0ms", 0],
    ["0s", 0],
    ["10s", 10_000],
    ["1.5m", 90_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["24h", 86_400_000],
    ["0.25s", 250],
    ["1.0005s", 1001], // 1000.5 rounds half up
    ["0.4ms", 0],
    ["  10s  ", 10_000], // surrounding blanks ignored
    ["007s", 7000],
    // Compound forms: a sum, units largest first.
    ["1m30s", 90_000],
    ["1h2m3.5s", 3_723_500],
    ["10s5ms", 10_005],
    ["1h30m", 5_400_000],
    ["2m0.5s", 120_500],
    ["1.5h30m", 7_200_000],
    ["1h1ms", 3_600_001],
    [" 1m30s ", 90_000],
  ])("%j -> %i ms", (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it.each([
    "",
    "10",
    "ms",
    "s",
    "-5s",
    "+5s",
    "1e3ms",
    "10 s",
    "10S",
    "10MS",
    "1d",
    "1us",
    ".5s",
    "5.s",
    "1_000ms",
    "1,5s",
    "30s1m", // units out of order: a typo, not a sum
    "1m1m",
    "5ms1s",
    "1m 30s",
    "1m30",
    "1m-30s",
    "1m30s.",
    "m30s",
    "Infinityms",
    "NaNs",
  ])("%j is malformed", (text) => {
    expect(parseDurationMs(text)).toBeUndefined();
  });

  it("a number too large for a double is malformed, not Infinity", () => {
    expect(parseDurationMs(`${"9".repeat(400)}h`)).toBeUndefined();
  });
});

describe("formatDurationMs", () => {
  it.each([
    [0, "0ms"],
    [1, "1ms"],
    [999, "999ms"],
    [1000, "1s"],
    [1500, "1500ms"],
    [59_000, "59s"],
    [60_000, "1m"],
    [90_000, "90s"],
    [3_600_000, "1h"],
    [5_400_000, "90m"],
    [86_400_000, "24h"],
    [86_400_001, "86400001ms"],
  ])("%i ms -> %s", (ms, text) => {
    expect(formatDurationMs(ms)).toBe(text);
  });

  it("parse(format(ms)) gives back ms for whole milliseconds", () => {
    const samples = [
      0, 1, 7, 999, 1000, 1001, 59_999, 60_000, 61_000, 3_599_000, 3_600_000, 7_200_000, 86_400_000, 31_536_000_000,
    ];
    for (let ms = 0; ms < 5000; ms += 37) samples.push(ms);
    for (const ms of samples) expect(parseDurationMs(formatDurationMs(ms)), String(ms)).toBe(ms);
  });
});
