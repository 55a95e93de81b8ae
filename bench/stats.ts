/**
 * Summary statistics and a plain-text table for the benchmarks. Kept free of
 * dependencies so every benchmark reports the same figures the same way.
 */

/** Summary of one figure's samples. Units are the samples' units. */
export interface Stats {
  n: number;
  min: number;
  median: number;
  p99: number;
  max: number;
  mean: number;
}

/**
 * Nearest-rank percentile of ascending `sorted` samples (`p` in [0, 100]).
 * Nearest rank always returns an observed value and never understates a tail:
 * with fewer than 100 samples p99 is the maximum, which is the honest answer
 * for a small benchmark (interpolation would invent a value between samples).
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError("percentile of an empty sample");
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** Median: the middle sample, or the mean of the two middle ones. */
export function median(sorted: readonly number[]): number {
  if (sorted.length === 0) throw new RangeError("median of an empty sample");
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Rounds to `digits` decimals, so JSON results do not carry float noise. */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** n, min, median, p99, max and mean of `values` (any order). Throws on an empty or non-finite sample. */
export function summarize(values: readonly number[], digits = 3): Stats {
  if (values.length === 0) throw new RangeError("cannot summarize an empty sample");
  if (!values.every(Number.isFinite)) throw new RangeError(`non-finite sample in ${JSON.stringify(values)}`);
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((s, x) => s + x, 0) / sorted.length;
  return {
    n: sorted.length,
    min: round(sorted[0]!, digits),
    median: round(median(sorted), digits),
    p99: round(percentile(sorted, 99), digits),
    max: round(sorted[sorted.length - 1]!, digits),
    mean: round(mean, digits),
  };
}

/** One table row: a label and its stats, printed with `digits` decimals. */
export interface StatsRow {
  label: string;
  stats: Stats;
  digits?: number;
}

/** Right-aligned text table of stats rows, one line per figure. */
export function formatStatsTable(rows: readonly StatsRow[]): string {
  const cols = ["n", "min", "median", "p99", "max", "mean"] as const;
  const cells = rows.map((r) => cols.map((c) => (c === "n" ? String(r.stats.n) : r.stats[c].toFixed(r.digits ?? 1))));
  const labelW = Math.max(6, ...rows.map((r) => r.label.length));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (label: string, vals: readonly string[]) =>
    [label.padEnd(labelW), ...vals.map((v, i) => v.padStart(widths[i]!))].join("  ").trimEnd();
  const header = line("figure", cols);
  return [header, "-".repeat(header.length), ...rows.map((r, i) => line(r.label, cells[i]!))].join("\n");
}
