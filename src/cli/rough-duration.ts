/**
 * A duration for people to read at a glance: `850ms`, `7.6s`, `3m12s`,
 * `2h05m`. Rounded down, so a lease shown with `7.6s` left has at least that.
 */
export function roughDuration(ms: number): string {
  const whole = Math.max(0, Math.floor(ms));
  if (whole < 1000) return `${whole}ms`;
  if (whole < 60_000) return `${(Math.floor(whole / 100) / 10).toFixed(1)}s`;
  const seconds = Math.floor(whole / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
  const minutes = Math.floor(seconds / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}
