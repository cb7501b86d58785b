import { expect, it } from "vitest";
import { roughDuration } from "../../src/cli/rough-duration.ts";

it("roughDuration: short to read, rounded down, never negative", () => {
  expect(
    [-5, 0, 999, 1000, 7_699, 59_999, 60_000, 192_400, 3_599_999, 3_600_000, 7_530_000].map(roughDuration),
  ).toEqual(["0ms", "0ms", "999ms", "1.0s", "7.6s", "59.9s", "1m00s", "3m12s", "59m59s", "1h00m", "2h05m"]);
});
