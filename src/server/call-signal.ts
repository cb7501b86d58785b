import type { EventEmitter } from "node:events";
import { LockError } from "../errors/lock-error.ts";
import { linkedController } from "../util/abort.ts";

interface Call extends EventEmitter {
  getDeadline(): Date | number;
}

export interface CallSignal {
  signal: AbortSignal;
  /** Milliseconds left before the call's deadline; Infinity without one. */
  remainingMs(): number;
  cleanup(): void;
}

/**
 * One AbortSignal for a call: it aborts when the client cancels, when the
 * deadline passes, or when the sidecar shuts down, with the matching
 * LockError as reason. `cleanup` must run when the call ends.
 */
export function callSignal(call: Call, shutdown: AbortSignal): CallSignal {
  const { controller, cleanup: unlink } = linkedController(shutdown);
  const onCancel = (): void => controller.abort(new LockError("cancelled", "call cancelled by the client"));
  call.once("cancelled", onCancel);
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  let timer: NodeJS.Timeout | undefined;
  if (Number.isFinite(deadlineMs)) {
    timer = setTimeout(
      () => controller.abort(new LockError("deadline-exceeded", "the call's deadline passed")),
      Math.max(0, deadlineMs - Date.now()),
    );
  }
  return {
    signal: controller.signal,
    remainingMs: () => (Number.isFinite(deadlineMs) ? deadlineMs - Date.now() : Number.POSITIVE_INFINITY),
    cleanup: () => {
      clearTimeout(timer);
      call.off("cancelled", onCancel);
      unlink();
    },
  };
}
