import { randomBytes } from "node:crypto";

/** Randomness, injected so retries and lease ids are reproducible in tests. */
export interface Randomness {
  /** An unguessable lease secret: at least 128 bits from a CSPRNG. */
  leaseSecret(): string;
  /** A uniform number in [0, 1), for retry jitter. */
  unit(): number;
}

/** 20 bytes (160 bits), as the Redlock reference implementation uses. */
export const LEASE_SECRET_BYTES = 20;

export const systemRandomness: Randomness = {
  leaseSecret: () => randomBytes(LEASE_SECRET_BYTES).toString("base64url"),
  unit: () => Math.random(),
};
