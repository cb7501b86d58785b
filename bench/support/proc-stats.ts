import { readFileSync } from "node:fs";

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticksPerSecond = 100;
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** Resident set size in MiB, from /proc (Linux). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN) / 1024;
}

/**
 * Resident memory by kind, in MiB, from /proc/<pid>/smaps (Linux): V8's heap
 * pages (anonymous 256 KiB mappings), malloc (the brk heap and other
 * anonymous mappings: nghttp2, buffers, thread arenas) and file-backed pages
 * (the node binary, libraries).
 */
export function residentByKind(pid: number): { v8Pages: number; malloc: number; files: number } {
  let size = 0;
  let name = "";
  const kb = { v8Pages: 0, malloc: 0, files: 0 };
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (range) {
      size = (parseInt(range[2]!, 16) - parseInt(range[1]!, 16)) / 1024;
      name = range[3]!.trim();
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    const value = Number(rss[1]);
    if (name === "" && size === 256) kb.v8Pages += value;
    else if (name === "" || name === "[heap]") kb.malloc += value;
    else kb.files += value;
  }
  return { v8Pages: kb.v8Pages / 1024, malloc: kb.malloc / 1024, files: kb.files / 1024 };
}
