import { performance } from 'node:perf_hooks';

export interface PhaseTiming {
  phase: string;
  /** wall time of the phase; phases that ran at the same time overlap, so they may add up to more than the total */
  ms: number;
}

/** Where a command's wall time went, in the order its phases finished. */
export interface Timings {
  totalMs: number;
  phases: PhaseTiming[];
}

/** Measures a command's phases as they run, and says each one's time on the step log. */
export class PhaseClock {
  private readonly startedAt = performance.now();
  private readonly phases: PhaseTiming[] = [];

  constructor(private readonly log: (line: string) => void = () => undefined) {}

  async phase<T>(phase: string, work: () => Promise<T>): Promise<T> {
    const startedAt = performance.now();
    try {
      return await work();
    } finally {
      this.record(phase, performance.now() - startedAt);
    }
  }

  record(phase: string, ms: number): void {
    const rounded = Math.round(ms);
    this.phases.push({ phase, ms: rounded });
    this.log(`${phase}: ${seconds(rounded)}`);
  }

  timings(): Timings {
    return { totalMs: Math.round(performance.now() - this.startedAt), phases: [...this.phases] };
  }
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** "44.0 s: reading 16.3 s, tracing 4.7 s, ..." */
export function renderTimings(timings: Timings): string {
  return `${seconds(timings.totalMs)}: ${timings.phases.map((p) => `${p.phase} ${seconds(p.ms)}`).join(', ')}`;
}
