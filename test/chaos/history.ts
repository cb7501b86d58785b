/**
 * What a chaos campaign records, as plain data the checker judges. Every time
 * is in milliseconds on ONE clock: the harness process's monotonic clock
 * (performance.now()). Sidecars report expires_at on the wall clock; the
 * harness converts it once, on receipt (see `WallToMonotonic`).
 */

/** One successful Acquire, as its client saw it. */
export interface GrantRecord {
  id: number;
  name: string;
  /** Which harness client held it, e.g. "s1c0" (sidecar 1, client 0). */
  client: string;
  sidecar: number;
  fencingToken: bigint;
  /** When the Acquire call was sent: the grant happened after this. */
  requestedAt: number;
  /** When the response arrived: the grant happened before this. */
  receivedAt: number;
  /** expires_at of the Acquire response. */
  expiresAt: number;
  /** Each later confirmation of the lease (KeepAlive message or Extend reply), in arrival order. */
  renewals: Renewal[];
  /**
   * When the client stopped relying on the lease: release sent, stream
   * cancelled, or a loss reported (FAILED_PRECONDITION). Unset: the client
   * let it run out.
   */
  stoppedAt?: number;
  stopReason?: StopReason;
}

export interface Renewal {
  receivedAt: number;
  expiresAt: number;
}

export type StopReason = "released" | "stream-closed" | "expired" | "lost" | "fenced" | "campaign-end";

/**
 * One episode of a frozen owner (see frozen-owner.ts): it held a lease
 * through KeepAlive, then stopped acting (no calls, no reading) for longer
 * than the sidecar's client ping interval + timeout, but shorter than its
 * TTL. Its grant and every expires_at it read (also those read at thaw,
 * buffered meanwhile) are in the grant's record.
 */
export interface FrozenOwnerRecord {
  grantId: number;
  ttlMs: number;
  frozenAt: number;
  thawedAt: number;
  /** KeepAlive messages it read after thaw: those sent while it was frozen, held for it (and new ones, if its connection survived). */
  readAfterThaw: number;
  /** The latest expires_at it read, the Acquire's included: the end it was told. */
  toldUntil: number;
  /** gRPC status its stream ended with, as it saw it after thaw (14 UNAVAILABLE: the connection was dropped); unset if still open. */
  endCode?: number;
  endedAt?: number;
  /** When the owner itself gave the lease up (cancelled its still-open stream): from then on others may have it. */
  askedAt?: number;
}

/**
 * One request to the protected resource. Each carries the fencing token of
 * the lease it is made under. `version` is the resource's state version (the
 * number of accepted writes so far): what a read returned, and for a write
 * the version it was computed from.
 */
export interface ResourceOp {
  name: string;
  grantId: number;
  fencingToken: bigint;
  at: number;
  kind: "read" | "write";
  /** Made after the client's own view of the lease had run out (a simulated paused client). */
  zombie: boolean;
  accepted: boolean;
  /** read: the version returned; write: the version the written value was computed from. */
  version: number;
}

/** A liveness probe: an Acquire of a fresh, uncontended name. */
export interface ProbeRecord {
  id: number;
  sidecar: number;
  name: string;
  waitMs: number;
  sentAt: number;
  endedAt: number;
  outcome: "acquired" | "not-acquired" | "error";
  /** gRPC status code of an error. */
  code?: number;
}

export type FaultKind =
  | "instance-kill-restart"
  | "instance-kill-delayed-restart"
  | "instance-pause-minority"
  | "instance-pause-majority"
  | "instance-pause-all"
  | "sidecar-pause"
  | "link-delay"
  | "link-blackhole"
  | "link-reset"
  | "sidecar-partition"
  | "rolling-restart";

export const FAULT_KINDS: readonly FaultKind[] = [
  "instance-kill-restart",
  "instance-kill-delayed-restart",
  "instance-pause-minority",
  "instance-pause-majority",
  "instance-pause-all",
  "sidecar-pause",
  "link-delay",
  "link-blackhole",
  "link-reset",
  "sidecar-partition",
  "rolling-restart",
];

/** A link: the connections from one sidecar to one instance (through a proxy). */
export interface Link {
  sidecar: number;
  instance: number;
}

/**
 * A fault as injected. From `startAt` (the fault in effect) to `endAt` (the
 * moment healing began: SIGCONT sent, restart begun, proxy mode switched
 * back); for kills, `restartedAt` is when the new process accepted
 * connections.
 */
export interface FaultRecord {
  id: number;
  kind: FaultKind;
  instances: number[];
  sidecars: number[];
  links: Link[];
  /** link-delay: the one-way delay added to each direction. */
  delayMs?: number;
  /** link-blackhole, sidecar-partition: whether stalled data was delivered or the connections reset. */
  heal?: "deliver" | "reset";
  /** When the injector began applying it (a kill takes effect somewhere before startAt). */
  beganAt?: number;
  startAt: number;
  endAt: number;
  restartedAt?: number;
  /** rolling-restart: each instance's kill and restart, in order; endAt is one gap after the last. */
  restarts?: RestartStep[];
  /** rolling-restart: the grants of the long KeepAlive holders. */
  holderGrants?: number[];
}

/** One instance's turn in a rolling restart. */
export interface RestartStep {
  instance: number;
  /** SIGKILL sent. */
  beganAt: number;
  /** The process is gone; its restart begins at once. */
  killedAt: number;
  /** The new, empty process accepts connections. */
  restartedAt: number;
}

/** A unary call that failed, as its caller saw it (for the time calls answered UNAVAILABLE). */
export interface FailedCall {
  call: string;
  sidecar: number;
  sentAt: number;
  endedAt: number;
  /** gRPC status code; undefined when the error carried none. */
  code: number | undefined;
}

/** Keys found on the instances once every client, lease and sidecar was gone. */
export interface KeyScan {
  prefix: string;
  /** How long before the scan the last sidecar stopped (no lease can have been granted since). */
  quietForMs: number;
  keys: { instance: number; key: string; pttlMs: number }[];
}

export interface History {
  /** Campaign start on the shared clock (for readable relative times). */
  origin: number;
  instanceCount: number;
  sidecarCount: number;
  /** Whether the protected resource checked tokens on reads too (see protected-resource.ts). */
  resourceFencesReads: boolean;
  grants: GrantRecord[];
  resourceOps: ResourceOp[];
  probes: ProbeRecord[];
  faults: FaultRecord[];
  /** Sidecar processes that exited while the campaign ran, nobody having asked them to. */
  crashes: { sidecar: number; at: number; how: string; output: string }[];
  /** Spans in which the harness's event loop ran late: the machine was starved (see stall-monitor.ts). */
  stalls: { start: number; end: number }[];
  /** The frozen owners' episodes, judged by told-end-check.ts. */
  frozenOwners: FrozenOwnerRecord[];
  /** Unary calls of clients, owners and holders that failed (probes are in `probes`). */
  failedCalls: FailedCall[];
  keyScan?: KeyScan;
}

/** Notes a unary call's failure; `error` is what grpc-js threw. */
export function noteFailedCall(history: History, call: string, sidecar: number, sentAt: number, error: unknown): void {
  const code = (error as { code?: unknown }).code;
  history.failedCalls.push({
    call,
    sidecar,
    sentAt,
    endedAt: performance.now(),
    code: typeof code === "number" ? code : undefined,
  });
}

export function emptyHistory(
  origin: number,
  instanceCount: number,
  sidecarCount: number,
  resourceFencesReads = true,
): History {
  return {
    origin,
    instanceCount,
    sidecarCount,
    resourceFencesReads,
    grants: [],
    resourceOps: [],
    probes: [],
    faults: [],
    crashes: [],
    stalls: [],
    frozenOwners: [],
    failedCalls: [],
  };
}

/**
 * Converts wall-clock milliseconds (expires_at) to the harness's monotonic
 * clock. The offset is measured once; within one campaign the two clocks do
 * not drift apart measurably, and a fixed offset keeps every conversion
 * consistent with every other.
 */
export class WallToMonotonic {
  readonly offsetMs: number;

  constructor() {
    // Date.now() ticks in whole milliseconds: read it right after a tick,
    // when it equals the true wall time to within microseconds.
    const before = Date.now();
    let wall = before;
    while (wall === before) wall = Date.now();
    this.offsetMs = wall - performance.now();
  }

  toMonotonic(wallMs: number): number {
    return wallMs - this.offsetMs;
  }
}
