import { afterEach, describe } from "vitest";
import { acquireCases } from "./acquire-cases.ts";
import type { ContractSubject, SubjectFactory } from "./contract-subject.ts";
import { extendCases } from "./extend-cases.ts";
import { fenceCases } from "./fence-cases.ts";
import { handoverCases } from "./handover-cases.ts";
import { readLockCases } from "./read-lock-cases.ts";
import { releaseCases } from "./release-cases.ts";
import { witnessCases } from "./witness-cases.ts";

export type { ContractSubject, SubjectFactory } from "./contract-subject.ts";

/**
 * Runs every contract case against the instances `factory` makes, each
 * closed after its case. The same cases run against the Lua scripts on a
 * real redis-server, the embedded MemoryInstance and the engine tests'
 * fake: if one drifts from the others, a case fails, and the engine tests
 * keep proving something about production.
 */
export function describeLockInstanceContract(name: string, factory: SubjectFactory): void {
  describe(`${name} meets the LockInstance contract`, () => {
    const open: ContractSubject[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((subject) => subject.close()));
    });
    const make: SubjectFactory = async () => {
      const subject = await factory();
      open.push(subject);
      return subject;
    };
    acquireCases(make);
    extendCases(make);
    releaseCases(make);
    handoverCases(make);
    fenceCases(make);
    witnessCases(make);
    readLockCases(make);
  });
}
