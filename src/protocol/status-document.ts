/**
 * The JSON document GET /status answers with (and `lockctl status` reads):
 * readiness and each instance's state as of the last health probe.
 */
export interface SidecarStatus {
  /** Whether a quorum answered the last probe and the sidecar is not shutting down. */
  serving: boolean;
  /** How many instances must answer for a lease to be granted. */
  quorum: number;
  /** How many answered the last probe. */
  reachable: number;
  /**
   * `up` is null before the first probe; `guard` says whether its votes
   * count (ok) or not (quarantined after a restart, circuit-open, unverified,
   * evicting); `mayEvict` whether its eviction policy may drop lock keys
   * (null before it is read, or when the instance refuses to tell).
   * Names carry no credentials.
   */
  instances: {
    name: string;
    up: boolean | null;
    guard: string;
    mayEvict: boolean | null;
    quarantine: { basis: string; remainingMs: number } | null;
  }[];
}

/** Checks a parsed /status document's shape (the client side of the contract). */
export function isSidecarStatus(value: unknown): value is SidecarStatus {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v["serving"] === "boolean" &&
    typeof v["quorum"] === "number" &&
    typeof v["reachable"] === "number" &&
    Array.isArray(v["instances"]) &&
    v["instances"].every(
      (i: unknown) => typeof i === "object" && i !== null && typeof (i as Record<string, unknown>)["name"] === "string",
    )
  );
}
