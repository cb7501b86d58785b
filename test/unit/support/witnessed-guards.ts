import { type Logger, pino } from "pino";
import { CircuitBudget, GuardedInstance } from "../../../src/instances/guarded-instance.ts";
import { InstanceAges } from "../../../src/instances/instance-ages.ts";
import { lockKeyPattern, RestartWitnesses } from "../../../src/instances/restart-witnesses.ts";
import { quorumOf } from "../../../src/redlock/quorum.ts";
import { FakeInstance } from "./fake-instance.ts";
import { ManualClock } from "./manual-clock.ts";

export interface WitnessedGuardOptions {
  prefix: string;
  /** LOCK_MAX_TTL: the fallback quarantine. */
  quarantineMs: number;
  circuitFailures: number;
  logger: Logger;
  /** False: the plain rule, a restart sits out quarantineMs. */
  withWitnesses?: boolean;
}

/**
 * One sidecar's guards over `fakes`, with its own witnesses, instance ages
 * and circuit budget, registered as the sidecar wires them
 * (sidecar-instances.ts).
 */
export function witnessedGuards(
  fakes: readonly FakeInstance[],
  clock: ManualClock,
  options: WitnessedGuardOptions,
): GuardedInstance[] {
  const n = fakes.length;
  const witnesses = new RestartWitnesses(
    {
      count: n,
      quorum: quorumOf(n),
      lockPattern: lockKeyPattern(options.prefix),
      instanceTimeoutMs: 1,
      scanTimeoutMs: 1000,
    },
    clock,
  );
  const guardOptions = {
    quarantineMs: options.quarantineMs,
    freshStartWindowMs: 60_000,
    ages: new InstanceAges(quorumOf(n)),
    circuitFailures: options.circuitFailures,
    circuitProbeIntervalMs: 500,
    circuitBudget: new CircuitBudget(n - quorumOf(n)),
    witnesses: options.withWitnesses === false ? undefined : witnesses,
  };
  const guards = fakes.map((fake) => new GuardedInstance(fake, guardOptions, clock, options.logger));
  guards.forEach((guard, i) =>
    witnesses.register({
      name: guard.name,
      canWitness: () => guard.state() === "ok",
      connectionEpoch: () => fakes[i]!.connectionEpoch(),
      longestTtlMs: (pattern) => fakes[i]!.longestTtlMs(pattern),
    }),
  );
  return guards;
}

/**
 * `n` fake instances that started an hour ago, and one sidecar's witnessed
 * guards over them, connected; what the guards log lands in `lines`.
 */
export async function startWitnessed(n: number, options: Omit<WitnessedGuardOptions, "logger">) {
  const clock = new ManualClock({ monotonicMs: 10_000_000 });
  const lines: string[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
  const fakes = Array.from({ length: n }, (_, i) => {
    const fake = new FakeInstance(`fake-${i}`, clock);
    fake.startedAtMs = clock.monotonicMs() - 3_600_000;
    return fake;
  });
  const guards = witnessedGuards(fakes, clock, { ...options, logger });
  for (const guard of guards) await guard.waitUntilConnected(0);
  return { clock, lines, fakes, guards };
}
