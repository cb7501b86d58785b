/**
 * Starts a timeout that never beats an answer this process has already
 * received. Returns a function that cancels it.
 *
 * Node runs due timers before it reads sockets. After the event loop was
 * held up (a burst of new streams, a long garbage collection), a timer
 * that fires late would fail a call whose answer arrived in time and is
 * waiting, unread, in the socket. So the expiry waits one more turn of the
 * loop: `setImmediate` runs after that turn's socket reads, and an answer
 * that had arrived by then still counts.
 *
 * Counting such an answer is safe because every caller measures a lease's
 * validity from when it sent the call, not from when the answer was read.
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
