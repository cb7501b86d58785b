/** Why an instance's answer does not count: the engine sees a failed vote. */
export class VoteWithheldError extends Error {
  override readonly name = "VoteWithheldError";
}
