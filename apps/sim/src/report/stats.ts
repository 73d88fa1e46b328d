/** Summary statistics of samples (nearest-rank percentiles). */

/** Mean, median and 99th percentile; null without samples. */
export interface Summary {
  readonly mean: number;
  readonly p50: number;
  readonly p99: number;
  readonly samples: number;
}

/** Summarizes `values` (not changed), rounding the mean to a whole cycle. */
export function summarize(values: readonly number[]): Summary | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
  const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
  return { mean: Math.round(mean), p50: rank(50), p99: rank(99), samples: sorted.length };
}
