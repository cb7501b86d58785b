import type { LockKeys } from "./lock-instance.ts";

/**
 * Key and channel names on the instances. The kind comes before the lock
 * name, so no name can collide with another name's key of a different kind.
 */
export function lockKeys(prefix: string, name: string): LockKeys {
  return {
    lock: `${prefix}lock:${name}`,
    fence: `${prefix}fence:${name}`,
    queue: `${prefix}queue:${name}`,
    channel: `${prefix}released:${name}`,
  };
}
