/** Votes needed out of `instanceCount` for a majority: floor(N/2) + 1. */
export function quorumOf(instanceCount: number): number {
  return Math.floor(instanceCount / 2) + 1;
}
