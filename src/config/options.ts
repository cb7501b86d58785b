/**
 * Every setting of the sidecar, with its unit in its name, its default and
 * its bounds, in one table. `load-config.ts` reads them from the environment
 * (`env`) and command-line flags (`--flag`, which win); the README documents
 * the same table.
 */
export interface SidecarOptions {
  /** redis:// or rediss:// URLs of the independent instances; empty: embedded memory store. */
  instances: string[];
  /** host:port the gRPC API listens on. */
  listen: string;
  defaultTtlMs: number;
  minTtlMs: number;
  maxTtlMs: number;
  /** Longest `wait` an Acquire may ask for. */
  maxWaitMs: number;
  /** Prefix of every key written to the instances (isolates tenants). */
  keyPrefix: string;
  /** Bound on each call to one instance. */
  instanceTimeoutMs: number;
  /** Pause between acquire attempts while waiting, before jitter. */
  retryDelayMs: number;
  /** Random extra pause, uniform in [0, retryJitterMs). */
  retryJitterMs: number;
  /** How long an idle lock name's fencing counter is kept on the instances. */
  fenceRetentionMs: number;
  /** Life of a waiting ticket (fairness across sidecars) unless refreshed by its owner. */
  waitTicketTtlMs: number;
  /**
   * Callers of one sidecar served in a row ahead of other sidecars' older tickets
   * once it won a lock; 0: strict ticket order.
   */
  maxBatch: number;
  /**
   * "on": an instance that restarted (new run_id, or uptime started again), or
   * started late, is kept out of quorums for the max TTL.
   */
  restartQuarantine: string;
  /** Instances that started within this of the earliest were deployed together (see the setting's help). */
  freshStartWindowMs: number;
  /**
   * Count the votes of an instance that may evict keys (maxmemory-policy other than
   * noeviction, Dragonfly cache mode).
   */
  allowEviction: boolean;
  /** Consecutive failures after which an instance is skipped fast and probed in the background. */
  circuitFailures: number;
  /** How often an instance whose circuit is open is probed. */
  circuitProbeIntervalMs: number;
  /** How often instance reachability is probed for the health service. */
  healthIntervalMs: number;
  /** Longest time shutdown waits for calls and releases before exiting. */
  shutdownGraceMs: number;
  /** How often the gRPC server pings each client connection (HTTP/2 PING), to notice a client that vanished. */
  clientPingIntervalMs: number;
  /** How long a ping may go unanswered before the connection is closed, ending its calls and KeepAlive streams. */
  clientPingTimeoutMs: number;
  /** Longest lock name, in UTF-8 bytes. */
  maxNameBytes: number;
  /** Most leases this sidecar holds at once. */
  maxLeases: number;
  /** Most KeepAlive streams open at once. */
  maxStreams: number;
  /** Most Acquire calls waiting at once. */
  maxWaiters: number;
  /** How late renewals (or the event loop) may run before new leases are refused; 0 ms: never refused for load. */
  overloadLagMs: number;
  /** Heap in use, in percent of V8's heap limit, past which new leases are refused; 0: never refused for it. */
  overloadHeapPercent: number;
  /** How long the sidecar must have kept up after an overload before it takes new leases again. */
  overloadSettleMs: number;
  /** host:port of the admin HTTP listener: /metrics, /healthz, /readyz, /status. */
  adminListen: string;
  /** pino level of the JSON logs. */
  logLevel: string;
  /** PEM certificate chain the gRPC API presents; empty: plaintext. */
  tlsCertFile: string;
  /** PEM private key of that certificate. */
  tlsKeyFile: string;
  /** PEM CA bundle client certificates must chain to; empty: no client certificates asked for. */
  tlsClientCaFile: string;
  /** How often the TLS files are read again to pick up a rotated certificate. */
  tlsRefreshIntervalMs: number;
  /** PEM CA bundle that rediss:// instances' certificates must chain to; empty: the system's CAs. */
  instanceTlsCaFile: string;
  /** PEM client certificate presented to rediss:// instances (instance mTLS). */
  instanceTlsCertFile: string;
  /** PEM private key of that client certificate. */
  instanceTlsKeyFile: string;
}

export type SettingKind = "duration" | "integer" | "string" | "boolean" | "urls" | "address" | "file";

export interface Setting<K extends keyof SidecarOptions = keyof SidecarOptions> {
  key: K;
  env: string;
  flag: string;
  kind: SettingKind;
  default: SidecarOptions[K];
  /** Inclusive bounds for durations (ms) and integers. */
  min?: number;
  max?: number;
  /** The only values a string setting may take. */
  choices?: readonly string[];
  help: string;
}

const HOUR_MS = 3_600_000;

export const SETTINGS: readonly Setting[] = [
  {
    key: "instances",
    env: "LOCK_INSTANCES",
    flag: "instances",
    kind: "urls",
    default: [],
    help: "comma-separated redis:// or rediss:// URLs (with password) of the independent instances; unset: an embedded in-process store (single process only)",
  },
  {
    key: "listen",
    env: "LOCK_LISTEN",
    flag: "listen",
    kind: "address",
    default: "127.0.0.1:50051",
    help: "host:port of the gRPC API (port 0 picks a free port)",
  },
  {
    key: "defaultTtlMs",
    env: "LOCK_DEFAULT_TTL",
    flag: "default-ttl",
    kind: "duration",
    default: 10_000,
    min: 10,
    max: 24 * HOUR_MS,
    help: "TTL of a lease when the request leaves ttl unset",
  },
  {
    key: "minTtlMs",
    env: "LOCK_MIN_TTL",
    flag: "min-ttl",
    kind: "duration",
    default: 100,
    min: 10,
    max: 24 * HOUR_MS,
    help: "shortest TTL a request may ask for",
  },
  {
    key: "maxTtlMs",
    env: "LOCK_MAX_TTL",
    flag: "max-ttl",
    kind: "duration",
    default: 5 * 60_000,
    min: 10,
    max: 24 * HOUR_MS,
    help: "longest TTL a request may ask for",
  },
  {
    key: "maxWaitMs",
    env: "LOCK_MAX_WAIT",
    flag: "max-wait",
    kind: "duration",
    default: 5 * 60_000,
    min: 0,
    max: 24 * HOUR_MS,
    help: "longest wait an Acquire may ask for",
  },
  {
    key: "keyPrefix",
    env: "LOCK_KEY_PREFIX",
    flag: "key-prefix",
    kind: "string",
    default: "redlock-sidecar:",
    help: "prefix of every key written to the instances",
  },
  {
    key: "instanceTimeoutMs",
    env: "LOCK_INSTANCE_TIMEOUT",
    flag: "instance-timeout",
    kind: "duration",
    default: 50,
    min: 1,
    max: 60_000,
    help: "bound on each call to one instance",
  },
  {
    key: "retryDelayMs",
    env: "LOCK_RETRY_DELAY",
    flag: "retry-delay",
    kind: "duration",
    default: 100,
    min: 0,
    max: 60_000,
    help: "pause between acquire attempts while waiting",
  },
  {
    key: "retryJitterMs",
    env: "LOCK_RETRY_JITTER",
    flag: "retry-jitter",
    kind: "duration",
    default: 100,
    min: 0,
    max: 60_000,
    help: "random extra pause added to each retry delay",
  },
  {
    key: "fenceRetentionMs",
    env: "LOCK_FENCE_RETENTION",
    flag: "fence-retention",
    kind: "duration",
    default: 24 * HOUR_MS,
    min: 60_000,
    max: 365 * 24 * HOUR_MS,
    help: "how long an idle lock name's fencing counter is kept",
  },
  {
    key: "waitTicketTtlMs",
    env: "LOCK_WAIT_TICKET_TTL",
    flag: "wait-ticket-ttl",
    kind: "duration",
    default: 1000,
    min: 50,
    max: 60_000,
    help: "life of a waiting ticket unless its waiter refreshes it: how long a waiter that died can hold up others (same on every sidecar)",
  },
  {
    key: "maxBatch",
    env: "LOCK_MAX_BATCH",
    flag: "max-batch",
    kind: "integer",
    default: 16,
    min: 0,
    max: 10_000,
    help:
      "once this sidecar wins a lock by the waiting tickets' order, how many of the callers already queued " +
      "here it may hand the lock to in a row, ahead of other sidecars' older tickets (one round trip each " +
      "instead of a change of sidecar); 0: strict ticket order across sidecars",
  },
  {
    key: "restartQuarantine",
    env: "LOCK_RESTART_QUARANTINE",
    flag: "restart-quarantine",
    kind: "string",
    default: "on",
    choices: ["on", "off"],
    help:
      "keep an instance that restarted (a new run_id, or an uptime that started again: it forgot its " +
      "locks) out of every quorum for LOCK_MAX_TTL; set the same LOCK_MAX_TTL on every sidecar",
  },
  {
    key: "freshStartWindowMs",
    env: "LOCK_FRESH_START_WINDOW",
    flag: "fresh-start-window",
    kind: "duration",
    default: 60_000,
    min: 0,
    max: 24 * HOUR_MS,
    help:
      "instances that started within this long of the earliest of them count as deployed together; one " +
      "that started later, and less than LOCK_MAX_TTL ago, is kept out of quorums until LOCK_MAX_TTL after " +
      "its start (it may have restarted and forgotten locks), even by a sidecar that never saw it before",
  },
  {
    key: "allowEviction",
    env: "LOCK_ALLOW_EVICTION",
    flag: "allow-eviction",
    kind: "boolean",
    default: false,
    help:
      "true: count the votes of an instance that may evict keys (maxmemory-policy other than noeviction, " +
      "or Dragonfly's cache mode), accepting that an evicted lock can be granted twice; false: such an " +
      "instance is kept out of every quorum",
  },
  {
    key: "circuitFailures",
    env: "LOCK_CIRCUIT_FAILURES",
    flag: "circuit-failures",
    kind: "integer",
    default: 3,
    min: 1,
    max: 1000,
    help: "consecutive failures after which an instance is skipped fast and probed in the background",
  },
  {
    key: "circuitProbeIntervalMs",
    env: "LOCK_CIRCUIT_PROBE_INTERVAL",
    flag: "circuit-probe-interval",
    kind: "duration",
    default: 500,
    min: 10,
    max: 60_000,
    help: "how often an instance whose circuit is open is probed",
  },
  {
    key: "healthIntervalMs",
    env: "LOCK_HEALTH_INTERVAL",
    flag: "health-interval",
    kind: "duration",
    default: 1000,
    min: 10,
    max: 60_000,
    help: "how often instance reachability is probed",
  },
  {
    key: "clientPingIntervalMs",
    env: "LOCK_CLIENT_PING_INTERVAL",
    flag: "client-ping-interval",
    kind: "duration",
    default: 10_000,
    min: 100,
    max: HOUR_MS,
    help:
      "how often each client connection is pinged (HTTP/2 PING), so a client that vanished without closing " +
      "its connection (host lost, partition) is noticed",
  },
  {
    key: "clientPingTimeoutMs",
    env: "LOCK_CLIENT_PING_TIMEOUT",
    flag: "client-ping-timeout",
    kind: "duration",
    default: 5_000,
    min: 100,
    max: 10 * 60_000,
    help:
      "how long a ping may go unanswered before the connection is closed: its KeepAlive streams end and " +
      "their leases run out at the last end they were told (a dead connection is not the owner asking for " +
      "a release)",
  },
  {
    key: "shutdownGraceMs",
    env: "LOCK_SHUTDOWN_GRACE",
    flag: "shutdown-grace",
    kind: "duration",
    default: 10_000,
    min: 0,
    max: 10 * 60_000,
    help: "longest time shutdown waits for calls and releases",
  },
  {
    key: "maxNameBytes",
    env: "LOCK_MAX_NAME_BYTES",
    flag: "max-name-bytes",
    kind: "integer",
    default: 512,
    min: 1,
    max: 65_536,
    help: "longest lock name in UTF-8 bytes",
  },
  {
    key: "maxLeases",
    env: "LOCK_MAX_LEASES",
    flag: "max-leases",
    kind: "integer",
    default: 100_000,
    min: 1,
    max: 10_000_000,
    help: "most leases this sidecar holds at once; beyond it Acquire is RESOURCE_EXHAUSTED",
  },
  {
    key: "maxStreams",
    env: "LOCK_MAX_STREAMS",
    flag: "max-streams",
    kind: "integer",
    default: 100_000,
    min: 1,
    max: 10_000_000,
    help: "most KeepAlive streams open at once; beyond it KeepAlive is RESOURCE_EXHAUSTED",
  },
  {
    key: "maxWaiters",
    env: "LOCK_MAX_WAITERS",
    flag: "max-waiters",
    kind: "integer",
    default: 10_000,
    min: 1,
    max: 10_000_000,
    help: "most Acquire calls waiting (wait > 0) at once; beyond it Acquire is RESOURCE_EXHAUSTED",
  },
  {
    key: "overloadLagMs",
    env: "LOCK_OVERLOAD_LAG",
    flag: "overload-lag",
    kind: "duration",
    default: 250,
    min: 0,
    max: 60_000,
    help:
      "how late the renewals of held leases may be answered after their due time, or how long the event " +
      "loop may be held up, before new work (Acquire, Hold, a KeepAlive for a lease not kept here yet) is " +
      "RESOURCE_EXHAUSTED; held leases are still renewed; 0ms: never refused for load",
  },
  {
    key: "overloadHeapPercent",
    env: "LOCK_OVERLOAD_HEAP",
    flag: "overload-heap",
    kind: "integer",
    default: 50,
    min: 0,
    max: 100,
    help:
      "how much of V8's heap limit may be in use (percent, the lowest reading over the last 10 s) before " +
      "new work is RESOURCE_EXHAUSTED, as for LOCK_OVERLOAD_LAG: full garbage collections of a fuller heap " +
      "hold renewals up; the limit follows the container's memory or --max-old-space-size; 0: never refused for it",
  },
  {
    key: "overloadSettleMs",
    env: "LOCK_OVERLOAD_SETTLE",
    flag: "overload-settle",
    kind: "duration",
    default: 5000,
    min: 0,
    max: 600_000,
    help:
      "after an overload signal read over its limit for 3 s or more, how long every signal must stay under " +
      "its limit before new work is taken again: load comes in spikes, and admitting in the gaps between " +
      "them adds the leases that are then lost; 0ms: taken again as soon as the signals are under",
  },
  {
    key: "adminListen",
    env: "LOCK_ADMIN_LISTEN",
    flag: "admin-listen",
    kind: "address",
    default: "0.0.0.0:9090",
    help: "host:port of the admin HTTP listener: /metrics, /healthz, /readyz, /status (port 0 picks a free port)",
  },
  {
    key: "logLevel",
    env: "LOCK_LOG_LEVEL",
    flag: "log-level",
    kind: "string",
    default: "info",
    choices: ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
    help: "level of the JSON logs",
  },
  {
    key: "tlsCertFile",
    env: "LOCK_TLS_CERT",
    flag: "tls-cert",
    kind: "file",
    default: "",
    help: "PEM certificate (chain) of the gRPC API; with LOCK_TLS_KEY it turns TLS on; unset: plaintext",
  },
  {
    key: "tlsKeyFile",
    env: "LOCK_TLS_KEY",
    flag: "tls-key",
    kind: "file",
    default: "",
    help: "PEM private key of LOCK_TLS_CERT",
  },
  {
    key: "tlsClientCaFile",
    env: "LOCK_TLS_CLIENT_CA",
    flag: "tls-client-ca",
    kind: "file",
    default: "",
    help: "PEM CA bundle: when set, every client must present a certificate signed by it (mutual TLS)",
  },
  {
    key: "tlsRefreshIntervalMs",
    env: "LOCK_TLS_REFRESH_INTERVAL",
    flag: "tls-refresh-interval",
    kind: "duration",
    default: 60_000,
    min: 100,
    max: HOUR_MS,
    help: "how often the TLS files (the API's and the instances') are read again; changed, valid files serve new connections from then on",
  },
  {
    key: "instanceTlsCaFile",
    env: "LOCK_INSTANCE_TLS_CA",
    flag: "instance-tls-ca",
    kind: "file",
    default: "",
    help: "PEM CA bundle that rediss:// instances' certificates must chain to (unset: the system's CAs)",
  },
  {
    key: "instanceTlsCertFile",
    env: "LOCK_INSTANCE_TLS_CERT",
    flag: "instance-tls-cert",
    kind: "file",
    default: "",
    help: "PEM client certificate presented to rediss:// instances (with LOCK_INSTANCE_TLS_KEY)",
  },
  {
    key: "instanceTlsKeyFile",
    env: "LOCK_INSTANCE_TLS_KEY",
    flag: "instance-tls-key",
    kind: "file",
    default: "",
    help: "PEM private key of LOCK_INSTANCE_TLS_CERT",
  },
];

export const DEFAULT_OPTIONS: SidecarOptions = Object.fromEntries(
  SETTINGS.map((s) => [s.key, s.default]),
) as unknown as SidecarOptions;
