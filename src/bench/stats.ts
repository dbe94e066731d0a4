/** Median, minimum and maximum of repeated measurements (the samples are kept for the JSON report). */
export interface Stat {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export function stat(samples: number[]): Stat {
  if (samples.length === 0) return { median: 0, min: 0, max: 0, samples: [] };
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, samples };
}

/** slim / original, rounded to 3 decimals; null when either side is missing or the original is zero. */
export function ratio(slim: number | undefined, original: number | undefined): number | null {
  if (slim === undefined || original === undefined || original === 0) return null;
  return Math.round((slim / original) * 1000) / 1000;
}
