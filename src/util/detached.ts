import { AsyncLocalStorage } from "node:async_hooks";

/**
 * Runs `fn` in the async context this module was loaded in, which is no
 * call's context. Work that serves many callers at once (renewals due
 * together, one batch of them) runs through it, so that a tracer does not
 * file that work under whichever call happened to arm its timer.
 */
export const detached: <R, A extends unknown[]>(fn: (...args: A) => R, ...args: A) => R = AsyncLocalStorage.snapshot();
