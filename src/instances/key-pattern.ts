/**
 * A Redis glob pattern (as SCAN MATCH takes) as a RegExp, for the in-process
 * store: `*` and `?` are wildcards, a backslash escapes the next character.
 * Character classes are not needed by any pattern this project builds.
 */
export function patternRegExp(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\" && i + 1 < pattern.length) source += escape(pattern[++i]!);
    else if (c === "*") source += "[\\s\\S]*";
    else if (c === "?") source += "[\\s\\S]";
    else source += escape(c);
  }
  return new RegExp(`^${source}$`);
}

// biome-ignore lint/suspicious/noShadowRestrictedNames: a module-local helper; the global escape() is not used
function escape(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}
