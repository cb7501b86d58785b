import { expect } from "vitest";
import { LockError, type LockErrorCode } from "../../../src/errors/lock-error.ts";

/** Asserts `error` is a LockError with `code` and returns it typed. */
export function expectLockError(error: unknown, code: LockErrorCode): LockError {
  expect(error).toBeInstanceOf(LockError);
  const lockError = error as LockError;
  expect(lockError.code, lockError.message).toBe(code);
  return lockError;
}

/** Runs `fn`, expects it to throw, and returns what it threw. */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

/** Awaits `promise`, expects a rejection, and returns the reason. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the promise to reject, but it resolved");
}
