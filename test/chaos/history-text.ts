import type { GrantRecord, History } from "./history.ts";

/** How a violation's message names the records of a history. */

/** A time on the history's clock, relative to the campaign's start. */
export function at(time: number, history: History): string {
  return `t+${(time - history.origin).toFixed(1)}ms`;
}

/** The faults in effect at some point of [from, to], for a violation's message. */
export function faultsAround(history: History, from: number, to: number): string {
  const faults = history.faults.filter((f) => (f.beganAt ?? f.startAt) <= to && (f.restartedAt ?? f.endAt) >= from);
  if (faults.length === 0) return "";
  return `; faults meanwhile: ${faults.map((f) => `#${f.id} ${f.kind}${f.instances.length ? ` [instances ${f.instances.join(",")}]` : ""}${f.sidecars.length ? ` [sidecars ${f.sidecars.join(",")}]` : ""}${f.links.length && f.kind !== "sidecar-partition" ? ` [links ${f.links.map((l) => `s${l.sidecar}->i${l.instance}`).join(",")}]` : ""} ${at(f.startAt, history)}..${at(f.restartedAt ?? f.endAt, history)}`).join("; ")}`;
}

export function describeGrant(grant: GrantRecord, history: History): string {
  return `grant #${grant.id} (client ${grant.client}, token ${grant.fencingToken}, received ${at(grant.receivedAt, history)})`;
}
