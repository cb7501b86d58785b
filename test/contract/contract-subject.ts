import { expect } from "vitest";
import type {
  AcquireReply,
  InstanceAcquire,
  LockHolder,
  LockInstance,
  LockKeys,
} from "../../src/instances/lock-instance.ts";

/** One instance under test (see lock-instance-contract.ts), on keys no other case uses. */
export interface ContractSubject {
  instance: LockInstance;
  /** Every name of this case lives under this prefix (lockKeys(prefix, name)). */
  prefix: string;
  /** Lets time pass: a manual clock moves at once; a server is waited for. */
  elapse(ms: number): Promise<void>;
  /** Lets a message in flight arrive: a turn of the event loop in process, a short wait for a server. */
  settle(): Promise<void>;
  /** The wall clock the instance reads (ms since the epoch): where a new fencing counter starts. */
  wallMs(): number;
  /**
   * Writes a key without expiry, as another program could. Undefined where
   * the implementation cannot hold one (MemoryInstance has no way to):
   * cases that need it are skipped there.
   */
  putWithoutExpiry: ((key: string, value: string) => Promise<void>) | undefined;
  close(): Promise<void>;
}

export type SubjectFactory = () => Promise<ContractSubject>;

/** How long a fencing counter is kept in cases that do not test it. */
export const RETENTION_MS = 60_000;

/**
 * How far a TTL read from a server may be below the TTL set: time passes
 * between the two commands. In process it reads back exactly.
 */
export const TTL_SLACK_MS = 1000;

/** The holder every acquire records unless a case says otherwise: what the engine always sends. */
export const HOLDER: LockHolder = { owner: "contract case", sinceMs: 1_700_000_000_123 };

/** An acquire of `keys` with `secret`: 5 s TTL, HOLDER, no ticket unless `more` says otherwise. */
export function acquiring(keys: LockKeys, secret: string, more: Partial<InstanceAcquire> = {}): InstanceAcquire {
  return {
    keys,
    secret,
    holder: HOLDER,
    ttlMs: 5000,
    fenceRetentionMs: RETENTION_MS,
    ticket: "",
    ticketTtlMs: 5000,
    ...more,
  };
}

/** A waiting caller's acquire: its ticket, with a ticket TTL of `ticketTtlMs`. */
export function waiting(keys: LockKeys, secret: string, ticket: string, ticketTtlMs = 5000): InstanceAcquire {
  return acquiring(keys, secret, { ticket, ticketTtlMs });
}

/** The counter of a grant; fails the case when refused. */
export function grantedFence(reply: AcquireReply): bigint {
  if (!reply.granted) return expect.fail(`expected a grant, got refused with holder TTL ${reply.holderTtlMs}`);
  return reply.fence;
}

/** The holder's TTL of a refusal; fails the case when granted. */
export function refusedTtl(reply: AcquireReply): number {
  if (reply.granted) return expect.fail(`expected a refusal, got granted with counter ${reply.fence}`);
  return reply.holderTtlMs;
}

/** A TTL set to `ttlMs` and read back a moment later: at most `ttlMs`, less by no more than TTL_SLACK_MS. */
export function expectTtlNear(actualMs: number, ttlMs: number): void {
  expect(actualMs).toBeLessThanOrEqual(ttlMs);
  expect(actualMs).toBeGreaterThan(ttlMs - TTL_SLACK_MS);
}

/** The remaining TTL of the lock `keys` names, read as a refused acquire reports it. */
export async function holderTtl(instance: LockInstance, keys: LockKeys): Promise<number> {
  return refusedTtl(await instance.acquire(acquiring(keys, "probe")));
}

/** Collects the notices announced on `channel`; `until(n)` waits until n have arrived (or fails). */
export async function listen(
  subject: ContractSubject,
  channel: string,
): Promise<{ heard: string[]; until(count: number): Promise<string[]>; stop(): void }> {
  const heard: string[] = [];
  const stop = await subject.instance.watchReleases(channel, (notice) => heard.push(notice));
  return {
    heard,
    stop,
    async until(count: number): Promise<string[]> {
      for (let turn = 0; heard.length < count && turn < 200; turn++) await subject.settle();
      expect(heard.length, `notices heard on ${channel}: ${JSON.stringify(heard)}`).toBeGreaterThanOrEqual(count);
      return heard;
    },
  };
}
