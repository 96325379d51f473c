/**
 * Small statistics for benchmark samples: percentiles of sorted samples, merging samples that
 * several processes reduced, and rates.
 *
 * @module
 */

/** The `p`-th percentile (0-100) of ascending `sorted`, by nearest rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** A process's latency samples, reduced to at most `max` evenly spaced ranks of the sorted whole. */
export interface ReducedSamples {
  count: number;
  /** Ascending; each stands for `count / values.length` samples. */
  values: number[];
}

/** Sorts `samples` and keeps at most `max` evenly spaced ranks. */
export function reduceSamples(samples: Float64Array, max = 20_000): ReducedSamples {
  const sorted = samples.slice().sort();
  if (sorted.length <= max) return { count: sorted.length, values: [...sorted] };
  const values: number[] = [];
  for (let i = 0; i < max; i++) values.push(sorted[Math.floor(((i + 0.5) * sorted.length) / max)]!);
  return { count: sorted.length, values };
}

/** p50 and p99 of reduced samples from several processes, each weighted by its count. */
export function mergedPercentiles(
  parts: ReducedSamples[],
): { p50: number; p99: number; count: number } {
  const weighted: [number, number][] = [];
  let count = 0;
  for (const part of parts) {
    count += part.count;
    const weight = part.values.length ? part.count / part.values.length : 0;
    for (const value of part.values) weighted.push([value, weight]);
  }
  weighted.sort((a, b) => a[0] - b[0]);
  const at = (p: number) => {
    const target = (p / 100) * count;
    let seen = 0;
    for (const [value, weight] of weighted) {
      seen += weight;
      if (seen >= target) return value;
    }
    return weighted.at(-1)?.[0] ?? NaN;
  };
  return { p50: at(50), p99: at(99), count };
}

/** Rounds to `digits` significant digits, for the JSON and the table. */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const scale = 10 ** (digits - 1 - Math.floor(Math.log10(Math.abs(value))));
  return Math.round(value * scale) / scale;
}
