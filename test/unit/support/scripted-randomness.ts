import { createHash } from "node:crypto";
import type { Randomness } from "../../../src/redlock/randomness.ts";

/**
 * Deterministic Randomness. Secrets are `<12 hash chars>-<prefix>-<n>`: valid
 * lease-id secrets, distinct in their first characters (the engine derives
 * rollback tags and ticket suffixes from a secret's start, as it would from
 * real random bits), and recognisable by `ScriptedRandomness.owns`. Jitter is
 * a fixed fraction.
 */
export class ScriptedRandomness implements Randomness {
  readonly prefix: string;
  /** What `unit()` returns: the jitter fraction in [0, 1). */
  jitterUnit: number;
  /** Every secret handed out, in order. */
  readonly secrets: string[] = [];

  constructor(prefix = "secret", jitterUnit = 0.5) {
    if (!/^[A-Za-z0-9_]+$/.test(prefix)) throw new RangeError(`prefix ${prefix} must be base64url without '-'`);
    if (jitterUnit < 0 || jitterUnit >= 1) throw new RangeError("jitterUnit must lie in [0, 1)");
    this.prefix = prefix;
    this.jitterUnit = jitterUnit;
  }

  /** Whether `secret` came from a ScriptedRandomness with `prefix`. */
  static owns(prefix: string, secret: string): boolean {
    return secret.includes(`-${prefix}-`);
  }

  leaseSecret(): string {
    const n = this.secrets.length + 1;
    const head = createHash("sha256").update(`${this.prefix}/${n}`).digest("base64url").slice(0, 12);
    const secret = `${head}-${this.prefix}-${n}`;
    this.secrets.push(secret);
    return secret;
  }

  unit(): number {
    return this.jitterUnit;
  }
}
