import { formatDurationMs } from "../config/duration.ts";
import type { CliContext } from "./command.ts";

/** A wait that lasts this long is announced (on a terminal). */
export const WAIT_NOTICE_AFTER_MS = 1000;

/**
 * Says on stderr that lockctl is waiting for `name` once a wait has lasted
 * WAIT_NOTICE_AFTER_MS, so a person at a terminal does not think it hung.
 * Only on a terminal: scripts reading stderr see nothing new. Returns the
 * function that calls the notice off (call it when the answer arrives).
 */
export function noticeLongWait(ctx: CliContext, name: string, waitMs: number): () => void {
  if (ctx.stderrIsTTY !== true || waitMs <= WAIT_NOTICE_AFTER_MS) return () => undefined;
  const timer = setTimeout(
    () =>
      ctx.err(
        `lockctl: waiting for ${JSON.stringify(name)}, held elsewhere (up to ${formatDurationMs(waitMs)}; Ctrl-C gives up)\n`,
      ),
    WAIT_NOTICE_AFTER_MS,
  );
  return () => clearTimeout(timer);
}
