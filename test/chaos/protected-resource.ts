import type { ResourceOp } from "./history.ts";

/**
 * The resource the locks protect: per lock name, an in-memory value that
 * holders update by read-modify-write (read the version, write the next one).
 * It is fenced as the README asks a resource to be: it remembers the highest
 * fencing token it has seen per name and rejects any request carrying a lower
 * one.
 *
 * With `fenceReads` (the default) reads count as "seen" too, as a storage
 * service that checks tokens on every request does: once a newer holder has
 * read, a former holder (paused, partitioned, or overlapping) can no longer
 * write over state it did not see. Without it only writes are checked, and a
 * stale holder's write can still slip in between a newer holder's read and
 * write.
 *
 * Every request is appended to `ops`, which the checker replays.
 */
export class ProtectedResource {
  readonly ops: ResourceOp[] = [];
  readonly fenceReads: boolean;
  readonly #state = new Map<string, { highest: bigint | undefined; version: number }>();
  readonly #now: () => number;

  constructor(options: { fenceReads?: boolean; now?: () => number } = {}) {
    this.fenceReads = options.fenceReads ?? true;
    this.#now = options.now ?? (() => performance.now());
  }

  /** The current version, or undefined when the token is fenced off. */
  read(name: string, grantId: number, fencingToken: bigint, zombie = false): number | undefined {
    const state = this.#of(name);
    const accepted = !this.fenceReads || state.highest === undefined || fencingToken >= state.highest;
    if (accepted && this.fenceReads && (state.highest === undefined || fencingToken > state.highest))
      state.highest = fencingToken;
    this.ops.push({
      name,
      grantId,
      fencingToken,
      at: this.#now(),
      kind: "read",
      zombie,
      accepted,
      version: state.version,
    });
    return accepted ? state.version : undefined;
  }

  /** Writes the value computed from `basedOn`; true when accepted (acknowledged). */
  write(name: string, grantId: number, fencingToken: bigint, basedOn: number, zombie = false): boolean {
    const state = this.#of(name);
    const accepted = state.highest === undefined || fencingToken >= state.highest;
    if (accepted) {
      if (state.highest === undefined || fencingToken > state.highest) state.highest = fencingToken;
      state.version++;
    }
    this.ops.push({ name, grantId, fencingToken, at: this.#now(), kind: "write", zombie, accepted, version: basedOn });
    return accepted;
  }

  #of(name: string): { highest: bigint | undefined; version: number } {
    let state = this.#state.get(name);
    if (!state) {
      state = { highest: undefined, version: 0 };
      this.#state.set(name, state);
    }
    return state;
  }
}
