import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import { status as grpcStatus } from "@grpc/grpc-js";
import type { Lease as LeaseMessage } from "../../gen/lock/v1/lock_pb.ts";
import { clientError, LockNotAcquiredError, LockUnavailableError } from "./errors.ts";
import type { ResolvedHoldOptions } from "./hold-options.ts";
import { HoldStream } from "./hold-stream.ts";
import type { LockClient } from "./lock-client.ts";

/** A granted Hold: its call (events queued until listened to) and the first lease message. */
export interface OpenedHold {
  stream: HoldStream;
  lease: LeaseMessage;
}

/** The first retry after UNAVAILABLE waits about this long; each next one twice as long, up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 1000;
/** setTimeout fires at once beyond this. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Opens a Hold call and waits for its first message. Resolves with the
 * lease; rejects with LockNotAcquiredError, LockUnavailableError, another
 * LockClientError, or the signal's reason. UNAVAILABLE is retried with the
 * same request id while the wait lasts, and at least once: a grant whose
 * answer was lost on the way is then found again, not refused as held.
 */
export async function openHold(
  client: LockClient,
  name: string,
  options: ResolvedHoldOptions,
  answerTimeoutMs: number,
): Promise<OpenedHold> {
  const waitEnd = Date.now() + options.waitMs;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await attemptHold(client, name, options, Math.max(0, waitEnd - Date.now()), answerTimeoutMs);
    } catch (error) {
      const delayMs = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** attempt) * (0.5 + Math.random() / 2);
      const retryable = error instanceof LockUnavailableError && error.grpcCode === grpcStatus.UNAVAILABLE;
      if (!retryable || (attempt > 0 && Date.now() + delayMs > waitEnd)) throw error;
      await sleep(delayMs, options.signal);
    }
  }
}

function attemptHold(
  client: LockClient,
  name: string,
  options: ResolvedHoldOptions,
  waitMs: number,
  answerTimeoutMs: number,
): Promise<OpenedHold> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const what = `hold ${JSON.stringify(name)}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      outcome();
    };
    const request = {
      name,
      owner: options.owner,
      requestId: options.requestId,
      expireOnClose: options.expireOnClose,
      wait: durationFromMs(waitMs),
      ...(options.ttlMs === undefined ? {} : { ttl: durationFromMs(options.ttlMs) }),
    };
    const stream = new HoldStream(client.hold(request), (event) => {
      if (event.kind === "end") {
        const error = event.error
          ? clientError(what, event.error)
          : new LockUnavailableError(`${what}: the sidecar ended the call without an answer`);
        settle(() => reject(error));
      } else if (event.message.acquired && event.message.lease) {
        const lease = event.message.lease;
        // The lease takes the stream over; what arrives meanwhile waits for it.
        stream.detach();
        settle(() => resolve({ stream, lease }));
      } else {
        // The stream ends OK by itself after this message.
        const retryAfter = event.message.retryAfter;
        settle(() => reject(new LockNotAcquiredError(name, retryAfter ? durationMs(retryAfter) : undefined)));
      }
    });
    const onAbort = (): void =>
      settle(() => {
        stream.cancel();
        reject(signal!.reason);
      });
    signal?.addEventListener("abort", onAbort, { once: true });
    // A hung sidecar must not hang the caller; the Hold itself has no deadline, as it lasts.
    const timer = setTimeout(
      () =>
        settle(() => {
          stream.cancel();
          reject(
            new LockUnavailableError(`${what}: no answer from the sidecar within ${waitMs + answerTimeoutMs} ms`, {
              grpcCode: grpcStatus.DEADLINE_EXCEEDED,
            }),
          );
        }),
      Math.min(waitMs + answerTimeoutMs, MAX_TIMER_MS),
    );
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
