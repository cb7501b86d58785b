/**
 * Starts a timeout that never beats an answer this process has already
 * received. Returns a function that cancels it.
 *
 * Node runs due timers before it reads sockets. After the event loop was
 * held up (a burst of new streams, a long garbage collection), a timer
 * that fires late would fail a call whose answer is waiting, unread, in
 * the socket. So the expiry waits one more turn of the loop:
 * `setImmediate` runs after that turn's socket reads, and an answer that
 * had arrived by then still counts, as long as it is read within
 * `answerLimitMs` of the call (see there).
 */
export function startAnswerTimer(timeoutMs: number, onExpire: () => void): () => void {
  let immediate: NodeJS.Immediate | undefined;
  const timer = setTimeout(() => {
    immediate = setImmediate(onExpire);
  }, timeoutMs);
  return () => {
    clearTimeout(timer);
    if (immediate !== undefined) clearImmediate(immediate);
  };
}

/** How late past its timeout a stalled event loop may read an answer that still counts, at the least. */
const STALL_ALLOWANCE_MS = 1000;

/**
 * The latest an answer may be read, after its call was sent, and still
 * count as a vote. A late read is safe for the lease itself (its validity
 * runs from the send), but a write counted this late may land on an
 * instance after a restart was noticed elsewhere: the restart witnesses
 * wait this long before they scan (docs/design.md, "Restarted instances").
 * It depends on LOCK_INSTANCE_TIMEOUT alone, so every sidecar with the same
 * setting keeps the same limit.
 */
export function answerLimitMs(timeoutMs: number): number {
  return timeoutMs + Math.max(4 * timeoutMs, STALL_ALLOWANCE_MS);
}
