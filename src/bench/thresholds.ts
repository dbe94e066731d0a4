import { usageError } from '../errors.js';

export const METRICS = ['size', 'pull', 'coldstart', 'warmstart', 'update'] as const;
export type Metric = (typeof METRICS)[number];

export interface Threshold {
  metric: Metric;
  /** fail when the change against the baseline is above this fraction (0.05 = +5%) */
  maxIncrease: number;
  text: string;
}

/** Parses `--fail-if` rules such as `size>+5%` or `coldstart>+10%`. */
export function parseThreshold(text: string): Threshold {
  const match = /^\s*([a-z]+)\s*>\s*\+?(\d+(?:\.\d+)?)%\s*$/.exec(text);
  if (!match || !METRICS.includes(match[1] as Metric)) {
    throw usageError(`--fail-if ${text}: use METRIC>+N% with METRIC one of ${METRICS.join(', ')}`);
  }
  return { metric: match[1] as Metric, maxIncrease: Number(match[2]) / 100, text: text.trim() };
}

export interface ThresholdResult {
  threshold: Threshold;
  baseline: number | null;
  current: number | null;
  change: number | null;
  /** a rule that cannot be evaluated (the metric is missing on either side) fails: a gate must not pass by default */
  failed: boolean;
}

export function checkThresholds(thresholds: Threshold[], current: Record<Metric, number | null>, baseline: Record<Metric, number | null>): ThresholdResult[] {
  const results: ThresholdResult[] = [];
  for (const threshold of thresholds) {
    const now = current[threshold.metric];
    const before = baseline[threshold.metric];
    if (now === null || before === null || before === 0) {
      results.push({ threshold, baseline: before, current: now, change: null, failed: true });
      continue;
    }
    const change = (now - before) / before;
    // a tolerance, so that 2.00 s → 2.20 s counts as exactly +10% despite floating point
    results.push({ threshold, baseline: before, current: now, change, failed: change > threshold.maxIncrease + 1e-9 });
  }
  return results;
}
