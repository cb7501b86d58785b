import type { Clock } from "../util/clock.ts";
import { detached } from "../util/detached.ts";

/** Work the scheduler runs when it falls due: a lease session's next renewal, or its deadline. */
export interface ScheduledTask {
  /** When it is due; set by the scheduler only. An entry for any other time is stale and skipped. */
  scheduledAtMs: number | undefined;
  /** Tasks due together run lowest first: the lease's end, so the lease with the least time left renews first. */
  readonly urgencyMs: number;
  run(nowMs: number, dueMs: number): void;
}

/**
 * One timer for every kept-alive lease, instead of one each: tasks wait in
 * buckets by due time (renewals fall on shared ticks, so thousands share a
 * bucket), and one timer is armed for the earliest bucket. Tasks due
 * together run earliest end first, so when renewals fall behind the leases
 * closest to their end go out first. Cancelling is lazy: a task moved or
 * cancelled leaves a stale entry that is skipped when its bucket falls due.
 */
export class RenewalScheduler {
  readonly #clock: Clock;
  readonly #buckets = new Map<number, ScheduledTask[]>();
  /** Due times of the buckets, a binary min-heap. */
  readonly #times: number[] = [];
  #timer: NodeJS.Timeout | undefined;
  #timerAtMs = Number.POSITIVE_INFINITY;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * Runs `task` at `atMs` (monotonic, rounded up to a whole millisecond so
   * that tasks due in the same millisecond share a bucket) instead of any
   * earlier schedule.
   */
  schedule(task: ScheduledTask, dueMs: number): void {
    const atMs = Math.ceil(dueMs);
    if (task.scheduledAtMs === atMs) return;
    task.scheduledAtMs = atMs;
    const bucket = this.#buckets.get(atMs);
    if (bucket) {
      bucket.push(task);
      return;
    }
    this.#buckets.set(atMs, [task]);
    heapPush(this.#times, atMs);
    if (atMs < this.#timerAtMs) this.#arm(atMs);
  }

  cancel(task: ScheduledTask): void {
    task.scheduledAtMs = undefined;
  }

  /** How long the oldest bucket has been due without running: 0 unless this process is falling behind now. */
  overdueMs(nowMs: number): number {
    const first = this.#times[0];
    return first === undefined || first >= nowMs ? 0 : nowMs - first;
  }

  #arm(atMs: number): void {
    clearTimeout(this.#timer);
    this.#timerAtMs = atMs;
    // Unref'd: kept leases alone do not keep the process alive; the server does.
    // A timer may fire early by the time its event-loop turn has run: #fire arms it again.
    // Detached: the renewals it runs belong to no call, whichever call armed it.
    this.#timer = setTimeout(detached, Math.max(0, Math.ceil(atMs - this.#clock.monotonicMs())), this.#fire);
    this.#timer.unref?.();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#timerAtMs = Number.POSITIVE_INFINITY;
    const nowMs = this.#clock.monotonicMs();
    const due: ScheduledTask[] = [];
    const dueAt: number[] = [];
    while (this.#times.length > 0 && this.#times[0]! <= nowMs) {
      const atMs = heapPop(this.#times);
      for (const task of this.#buckets.get(atMs) ?? []) {
        if (task.scheduledAtMs !== atMs) continue;
        // Marked now, so a task listed twice in this bucket runs once.
        task.scheduledAtMs = Number.NaN;
        due.push(task);
        dueAt.push(atMs);
      }
      this.#buckets.delete(atMs);
    }
    // Read once per task: a getter may look the lease up.
    const urgency = due.map((task) => task.urgencyMs);
    const order = due.map((_, i) => i).sort((a, b) => urgency[a]! - urgency[b]! || dueAt[a]! - dueAt[b]!);
    for (const i of order) {
      const task = due[i]!;
      // A task run earlier in this turn may have moved this one.
      if (!Number.isNaN(task.scheduledAtMs)) continue;
      task.scheduledAtMs = undefined;
      task.run(nowMs, dueAt[i]!);
    }
    const next = this.#times[0];
    if (next !== undefined && next < this.#timerAtMs) this.#arm(next);
  };
}

function heapPush(heap: number[], value: number): void {
  heap.push(value);
  let at = heap.length - 1;
  while (at > 0) {
    const parent = (at - 1) >> 1;
    if (heap[parent]! <= value) break;
    heap[at] = heap[parent]!;
    at = parent;
  }
  heap[at] = value;
}

function heapPop(heap: number[]): number {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length === 0) return top;
  let at = 0;
  for (;;) {
    const left = 2 * at + 1;
    if (left >= heap.length) break;
    const child = left + 1 < heap.length && heap[left + 1]! < heap[left]! ? left + 1 : left;
    if (heap[child]! >= last) break;
    heap[at] = heap[child]!;
    at = child;
  }
  heap[at] = last;
  return top;
}
