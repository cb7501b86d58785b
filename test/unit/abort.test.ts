import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LockError } from "../../src/errors/lock-error.ts";
import {
  abortReason,
  linkedController,
  sleep,
  throwIfAborted,
  TimeoutError,
  withTimeout,
} from "../../src/util/abort.ts";
import { expectLockError, rejectionOf, thrownBy } from "./support/lock-error.ts";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Whether `promise` has settled, after letting microtasks run. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await vi.advanceTimersByTimeAsync(0);
  return settled;
}

describe("abortReason / throwIfAborted", () => {
  it("passes a LockError reason through, maps anything else to cancelled", () => {
    const reason = new LockError("deadline-exceeded", "late");
    expect(abortReason(AbortSignal.abort(reason))).toBe(reason);
    expectLockError(abortReason(AbortSignal.abort(new Error("x"))), "cancelled");
    expectLockError(abortReason(AbortSignal.abort()), "cancelled");
  });

  it("throwIfAborted throws only for an aborted signal", () => {
    expect(() => throwIfAborted(undefined)).not.toThrow();
    expect(() => throwIfAborted(new AbortController().signal)).not.toThrow();
    expectLockError(
      thrownBy(() => throwIfAborted(AbortSignal.abort())),
      "cancelled",
    );
  });
});

describe("sleep", () => {
  it("resolves after the time, not before", async () => {
    const done = sleep(100);
    await vi.advanceTimersByTimeAsync(99);
    expect(await isSettled(done)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await isSettled(done)).toBe(true);
  });

  it("treats a negative time as zero", async () => {
    expect(await isSettled(sleep(-5))).toBe(true);
  });

  it("rejects with the reason as soon as the signal aborts, and at once if it already has", async () => {
    const controller = new AbortController();
    const done = sleep(1000, controller.signal);
    const reason = new LockError("shutting-down", "bye");
    controller.abort(reason);
    expect(await rejectionOf(done)).toBe(reason);
    expectLockError(await rejectionOf(sleep(10, AbortSignal.abort())), "cancelled");
  });

  it("leaves no listener on the signal once it resolved", async () => {
    const controller = new AbortController();
    const done = sleep(10, controller.signal);
    await vi.advanceTimersByTimeAsync(10);
    await done;
    controller.abort(); // must not throw or reject anything
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("withTimeout", () => {
  it("resolves with the work's value", async () => {
    await expect(withTimeout(Promise.resolve(7), 10)).resolves.toBe(7);
    expect(vi.getTimerCount()).toBe(0); // its timer was cleared
  });

  it("passes the work's rejection through", async () => {
    const error = new Error("boom");
    expect(await rejectionOf(withTimeout(Promise.reject(error), 10))).toBe(error);
  });

  it("rejects with TimeoutError when the work is slower, and ignores its late result", async () => {
    let finish: (value: number) => void = () => undefined;
    const slow = new Promise<number>((resolve) => (finish = resolve));
    const bounded = withTimeout(slow, 50);
    await vi.advanceTimersByTimeAsync(49);
    expect(await isSettled(bounded)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const error = await rejectionOf(bounded);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toContain("50 ms");
    finish(1);
    await vi.advanceTimersByTimeAsync(0);
  });

  it("rejects with the abort reason when the signal aborts first", async () => {
    const controller = new AbortController();
    const bounded = withTimeout(new Promise(() => undefined), 1000, controller.signal);
    const reason = new LockError("cancelled", "stop");
    controller.abort(reason);
    expect(await rejectionOf(bounded)).toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("with an aborted signal, rejects at once and swallows the work's later rejection", async () => {
    const work = Promise.reject(new Error("late failure"));
    expectLockError(await rejectionOf(withTimeout(work, 10, AbortSignal.abort())), "cancelled");
  });
});

describe("linkedController", () => {
  it("aborts when any parent aborts, with that parent's reason", () => {
    const a = new AbortController();
    const b = new AbortController();
    const { controller } = linkedController(a.signal, undefined, b.signal);
    expect(controller.signal.aborted).toBe(false);
    b.abort("b went away");
    expect(controller.signal.aborted).toBe(true);
    expect(controller.signal.reason).toBe("b went away");
  });

  it("starts aborted when a parent already is", () => {
    const { controller } = linkedController(new AbortController().signal, AbortSignal.abort("early"));
    expect(controller.signal.reason).toBe("early");
  });

  it("cleanup detaches it from its parents", () => {
    const parent = new AbortController();
    const { controller, cleanup } = linkedController(parent.signal);
    cleanup();
    parent.abort();
    expect(controller.signal.aborted).toBe(false);
  });
});
