import { randomFillSync } from "node:crypto";

/** Randomness, injected so retries and lease ids are reproducible in tests. */
export interface Randomness {
  /** An unguessable lease secret: at least 128 bits from a CSPRNG. */
  leaseSecret(): string;
  /** A uniform number in [0, 1), for retry jitter. */
  unit(): number;
}

/** 20 bytes (160 bits), as the Redlock reference implementation uses. */
export const LEASE_SECRET_BYTES = 20;

/**
 * CSPRNG bytes drawn a block at a time: one getrandom call per 200 secrets
 * instead of one per secret (it showed in the sidecar's CPU profile under
 * load). Every byte is handed out once.
 */
const POOL_BYTES = LEASE_SECRET_BYTES * 200;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

function secretBytes(): Buffer {
  if (used + LEASE_SECRET_BYTES > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const bytes = pool.subarray(used, used + LEASE_SECRET_BYTES);
  used += LEASE_SECRET_BYTES;
  return bytes;
}

export const systemRandomness: Randomness = {
  leaseSecret: () => secretBytes().toString("base64url"),
  unit: () => Math.random(),
};
