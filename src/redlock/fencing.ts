/**
 * Fencing token choice. Each instance keeps a per-name counter that its
 * acquire script increments; the token is the maximum over the granting
 * majority. When fewer than a quorum of granting instances already hold that
 * maximum, a later majority might miss it, so the counter must first be
 * raised to the token on a majority (see `raiseNeeded`).
 */
export interface FencingChoice {
  token: bigint;
  /** True when fewer than `quorum` counters equal the token. */
  raiseNeeded: boolean;
}

export function chooseFencingToken(grantedCounters: readonly bigint[], quorum: number): FencingChoice {
  if (grantedCounters.length === 0) throw new RangeError("no granted counters to choose a token from");
  let token = grantedCounters[0]!;
  for (const counter of grantedCounters) if (counter > token) token = counter;
  const atToken = grantedCounters.filter((counter) => counter === token).length;
  return { token, raiseNeeded: atToken < quorum };
}

/** Whether enough counters confirmed they are at least the token after a raise. */
export function raiseConfirmed(confirmedCounters: readonly bigint[], token: bigint, quorum: number): boolean {
  return confirmedCounters.filter((counter) => counter >= token).length >= quorum;
}
