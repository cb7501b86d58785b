import { getHeapStatistics } from "node:v8";
import { afterEach, describe, expect, it, vi } from "vitest";
import { HeapShare } from "../../src/server/heap-share.ts";

describe("HeapShare", () => {
  afterEach(() => vi.useRealTimers());

  it("reads the heap in use as a share of V8's limit, and keeps the lowest reading of the last 10 s", () => {
    vi.useFakeTimers();
    const heap = new HeapShare();
    try {
      const before = heap.share();
      expect(before).toBeGreaterThan(0);
      expect(before).toBeLessThan(1);
      // Kept alive on purpose: objects on the V8 heap (typed arrays' memory would be outside it).
      const ballast = Array.from({ length: 2_000_000 }, (_, i) => ({ i }));
      vi.advanceTimersByTime(1000);
      expect(heap.share()).toBe(before);
      vi.advanceTimersByTime(10_250);
      const limit = getHeapStatistics().heap_size_limit;
      expect(heap.share() - before).toBeGreaterThan((20 * 1048576) / limit);
      expect(ballast.length).toBe(2_000_000);
    } finally {
      heap.close();
    }
  });
});
