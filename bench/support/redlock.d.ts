// node-redlock 5.0.0-beta.2 ships types its package exports do not point at;
// the benchmark uses only this much of it.
declare module "redlock" {
  import type { Redis } from "ioredis";
  interface Lock {
    release(): Promise<unknown>;
  }
  export default class Redlock {
    constructor(
      clients: Iterable<Redis>,
      settings?: { retryCount?: number; retryDelay?: number; retryJitter?: number },
    );
    acquire(resources: string[], durationMs: number): Promise<Lock>;
  }
}
