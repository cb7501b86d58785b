import { listenErrorText } from "../util/error-text.ts";

/**
 * A listen address that could not be bound at start-up (taken by another
 * process, not on this host). The message names the setting, so one line
 * tells the operator what to change.
 */
export class ListenError extends Error {
  override readonly name = "ListenError";

  /** `setting` as shown to users, e.g. "LOCK_ADMIN_LISTEN / --admin-listen". */
  constructor(address: string, setting: string, cause: unknown) {
    super(`cannot listen on ${address} (${setting}): ${listenErrorText(cause)}`, { cause });
  }
}
