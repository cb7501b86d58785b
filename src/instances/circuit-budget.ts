/**
 * At most N - quorum circuits open at once: skipping an instance is only
 * worth it while the others still make a quorum. When every instance is
 * slow (the sidecar itself is overloaded), calls keep trying them all
 * rather than failing fast everywhere.
 */
export class CircuitBudget {
  readonly #maxOpen: number;
  #open = 0;

  constructor(maxOpen: number) {
    this.#maxOpen = maxOpen;
  }

  tryOpen(): boolean {
    if (this.#open >= this.#maxOpen) return false;
    this.#open++;
    return true;
  }

  close(): void {
    this.#open = Math.max(0, this.#open - 1);
  }
}
