import { HealthImplementation } from "grpc-health-check";
import type { Server } from "@grpc/grpc-js";
import type { LockEngine } from "../engine/lock-engine.ts";
import type { Logger } from "../log/logger.ts";

/**
 * grpc.health.v1: SERVING while a quorum of instances answers PING, both for
 * the whole server ("") and for lock.v1.LockService; NOT_SERVING otherwise
 * and once shutdown starts. Probed in the background on an unref'd timer.
 */
export class QuorumHealth {
  readonly #health = new HealthImplementation({ "": "NOT_SERVING", "lock.v1.LockService": "NOT_SERVING" });
  readonly #engine: LockEngine;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #serving: boolean | undefined;
  #stopped = false;

  constructor(engine: LockEngine, logger: Logger) {
    this.#engine = engine;
    this.#logger = logger;
  }

  addToServer(server: Server): void {
    this.#health.addToServer(server);
  }

  get serving(): boolean {
    return this.#serving === true;
  }

  /** Probes once now, then every `intervalMs`. */
  async start(intervalMs: number): Promise<void> {
    await this.probe();
    this.#timer = setInterval(() => void this.probe(), intervalMs);
    this.#timer.unref();
  }

  async probe(): Promise<boolean> {
    const reachable = await this.#engine.reachableCount();
    if (!this.#stopped) this.#set(reachable >= this.#engine.quorum, reachable);
    return this.serving;
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#set(false, undefined);
  }

  #set(serving: boolean, reachable: number | undefined): void {
    if (serving === this.#serving) return;
    this.#serving = serving;
    const status = serving ? "SERVING" : "NOT_SERVING";
    this.#health.setStatus("", status);
    this.#health.setStatus("lock.v1.LockService", status);
    const instances = this.#engine.instances.length;
    if (serving) this.#logger.info({ reachable, instances, quorum: this.#engine.quorum }, "quorum reachable: serving");
    else this.#logger.warn({ reachable, instances, quorum: this.#engine.quorum }, "quorum not reachable: not serving");
  }
}
