import { HealthImplementation } from "grpc-health-check";
import type { Server } from "@grpc/grpc-js";
import { fanOut } from "../engine/fan-out.ts";
import type { LockEngine } from "../engine/lock-engine.ts";
import { EvictionGuard, type EvictionGuardState } from "../instances/eviction-guard.ts";
import { GuardedInstance } from "../instances/guarded-instance.ts";
import { InstanceDecorator } from "../instances/instance-decorator.ts";
import type { InstanceState } from "../instances/instance-state.ts";
import type { LockInstance } from "../instances/lock-instance.ts";
import type { Logger } from "../log/logger.ts";
import { errorReason } from "../util/error-text.ts";
import { addingReadableServices } from "./unreadable-request.ts";

export interface QuorumHealthOptions {
  /** Bound on each probe's PING to one instance. */
  probeTimeoutMs: number;
}

/**
 * Probes every instance with PING and derives readiness from the answers:
 * grpc.health.v1 reports SERVING while a quorum answers, both for the whole
 * server ("") and for lock.v1.LockService; NOT_SERVING otherwise and once
 * shutdown starts. Each instance's state is kept for metrics and /status,
 * and each change is logged once. Probed in the background on an unref'd timer.
 */
export class QuorumHealth {
  readonly #health = new HealthImplementation({ "": "NOT_SERVING", "lock.v1.LockService": "NOT_SERVING" });
  readonly #engine: LockEngine;
  readonly #logger: Logger;
  readonly #probeTimeoutMs: number;
  readonly #up: (boolean | undefined)[];
  #timer: NodeJS.Timeout | undefined;
  #serving: boolean | undefined;
  #stopped = false;
  #probing: Promise<boolean> | undefined;

  constructor(engine: LockEngine, logger: Logger, options: QuorumHealthOptions) {
    this.#engine = engine;
    this.#logger = logger;
    this.#probeTimeoutMs = options.probeTimeoutMs;
    this.#up = engine.instances.map(() => undefined);
  }

  addToServer(server: Server): void {
    this.#health.addToServer(addingReadableServices(server));
  }

  get serving(): boolean {
    return this.#serving === true;
  }

  /** How many instances answered the last probe. */
  get reachable(): number {
    return this.#up.filter((up) => up === true).length;
  }

  instances(): InstanceState[] {
    return this.#engine.instances.map((instance, i) => {
      const eviction = InstanceDecorator.find(instance, EvictionGuard);
      return {
        name: instance.name,
        up: this.#up[i],
        guard: guardOf(instance),
        // An instance without an eviction guard is one that never evicts (the embedded store).
        mayEvict: eviction ? eviction.mayEvict() : false,
        quarantine: quarantineOf(instance),
      };
    });
  }

  /** Probes once now, then every `intervalMs`. */
  async start(intervalMs: number): Promise<void> {
    await this.probe();
    this.#timer = setInterval(() => void this.probe(), intervalMs);
    this.#timer.unref();
  }

  /** One probe of every instance; joins the probe in flight rather than piling up behind slow instances. */
  probe(): Promise<boolean> {
    this.#probing ??= this.#probeAll().finally(() => (this.#probing = undefined));
    return this.#probing;
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#set(false, undefined);
  }

  async #probeAll(): Promise<boolean> {
    const answers = await fanOut(this.#engine.instances, this.#probeTimeoutMs, (i) => i.ping());
    if (this.#stopped) return false;
    answers.forEach((answer, i) => this.#setInstance(i, answer.ok ? undefined : answer.error));
    const reachable = this.reachable;
    this.#set(reachable >= this.#engine.quorum, reachable);
    return this.serving;
  }

  /** `error` undefined: the instance answered. */
  #setInstance(index: number, error: unknown): void {
    const up = error === undefined;
    const was = this.#up[index];
    if (up === was) return;
    this.#up[index] = up;
    const instance = this.#engine.instances[index]!.name;
    // At start-up only the instances that are down are worth a line.
    if (!up) this.#logger.warn({ instance, reason: errorReason(error) }, "instance down");
    else if (was !== undefined) this.#logger.info({ instance }, "instance up");
  }

  #set(serving: boolean, reachable: number | undefined): void {
    if (serving === this.#serving) return;
    this.#serving = serving;
    const status = serving ? "SERVING" : "NOT_SERVING";
    this.#health.setStatus("", status);
    this.#health.setStatus("lock.v1.LockService", status);
    const instances = this.#engine.instances.length;
    if (serving) this.#logger.info({ reachable, instances, quorum: this.#engine.quorum }, "quorum reachable: serving");
    else if (reachable === undefined)
      this.#logger.info({ instances, quorum: this.#engine.quorum }, "shutting down: not serving");
    else this.#logger.warn({ reachable, instances, quorum: this.#engine.quorum }, "quorum not reachable: not serving");
  }
}

function quarantineOf(instance: LockInstance): InstanceState["quarantine"] {
  const guarded = InstanceDecorator.find(instance, GuardedInstance);
  const remainingMs = guarded?.quarantineRemainingMs() ?? 0;
  return guarded && remainingMs > 0
    ? { basis: guarded.quarantineBasis(), remainingMs: Math.ceil(remainingMs) }
    : undefined;
}

/** The outermost guard's state: the eviction guard's includes the restart guard's. */
function guardOf(instance: LockInstance): EvictionGuardState {
  const guard = InstanceDecorator.find(instance, EvictionGuard) ?? InstanceDecorator.find(instance, GuardedInstance);
  return guard?.state() ?? "ok";
}
