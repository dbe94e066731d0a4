import { ratio, stat, type Stat } from './stats.js';

/** The three ways a fleet can be shipped: as built, each image slimmed on its own, or slimmed together. */
export type FleetVariant = 'original' | 'single' | 'fleet';
export const FLEET_VARIANTS: FleetVariant[] = ['original', 'single', 'fleet'];

/** One function started on a node that already ran the functions before it, in one round. */
export interface FleetStepSample {
  /** compressed bytes this pull downloaded (layers earlier functions brought are not counted) */
  bytes: number;
  pullSeconds: number;
  firstRequestColdMs: number;
  firstRequestWarmMs: number;
}

export interface FleetBenchSamples {
  rounds: number;
  bandwidth: string | null;
  /** the node the images were pulled and run on */
  node: string;
  fleet: string;
  functions: string[];
  variants: Array<{
    variant: FleetVariant;
    references: string[];
    /** compressed bytes of each image in the registry: what it pulls on an empty node */
    imageBytes: number[];
    /** compressed bytes of each image's layers in the registry, bottom first */
    layerBytes: number[][];
    /** per round, per function in fleet order */
    rounds: FleetStepSample[][];
    /** per round, per changed function: pulling its new version on a node that runs the previous fleet */
    updates: Array<Array<{ name: string; bytes: number; seconds: number }>>;
  }>;
}

export interface FleetBenchStep {
  name: string;
  reference: string;
  imageBytes: number;
  /** its layers as the registry holds them, bottom first (the last is the app layer of a slim image) */
  layerBytes: number[];
  /** bytes pulled with the functions before it on the node (the median; pulls are deterministic) */
  pulledBytes: number;
  pull: Stat;
  firstRequestCold: Stat;
  /** seconds: pull + first request */
  coldStart: Stat;
  firstRequestWarm: Stat;
  /** cold start / warm first request (medians) */
  coldOverWarm: number | null;
}

export interface FleetBenchVariantReport {
  variant: FleetVariant;
  steps: FleetBenchStep[];
  totals: {
    /** every function in turn on one node */
    pulledBytes: number;
    /** Σ of the images' bytes, each on an empty node */
    imageBytes: number;
    /** Σ of the median cold starts */
    coldStartSeconds: number;
    /** Σ of the median cold starts of functions 2..N */
    laterColdStartSeconds: number;
    laterPulledBytes: number;
  };
  updates: Array<{ name: string; bytes: number; seconds: Stat }>;
}

export interface FleetBenchReport {
  schemaVersion: 1;
  rounds: number;
  bandwidth: string | null;
  node: string;
  fleet: string;
  functions: string[];
  variants: FleetBenchVariantReport[];
  /** fleet / single and fleet / original, from the same run */
  ratios: {
    pulledBytesVsSingle: number | null;
    pulledBytesVsOriginal: number | null;
    coldStartVsSingle: number | null;
    coldStartVsOriginal: number | null;
  };
}

const median = (xs: number[]) => stat(xs).median;

/** Turns the bench's samples into its report: medians, totals and ratios (a pure function). */
export function fleetBenchReport(samples: FleetBenchSamples): FleetBenchReport {
  const variants = samples.variants.map((v): FleetBenchVariantReport => {
    const steps = samples.functions.map((name, k): FleetBenchStep => {
      const at = v.rounds.map((r) => r[k]!);
      const pull = stat(at.map((s) => s.pullSeconds));
      const firstRequestCold = stat(at.map((s) => s.firstRequestColdMs));
      const coldStart = stat(at.map((s) => s.pullSeconds + s.firstRequestColdMs / 1000));
      const firstRequestWarm = stat(at.map((s) => s.firstRequestWarmMs));
      return {
        name,
        reference: v.references[k]!,
        imageBytes: v.imageBytes[k]!,
        layerBytes: v.layerBytes[k] ?? [],
        pulledBytes: median(at.map((s) => s.bytes)),
        pull,
        firstRequestCold,
        coldStart,
        firstRequestWarm,
        coldOverWarm: ratio(coldStart.median, firstRequestWarm.median / 1000),
      };
    });
    const later = steps.slice(1);
    const names = [...new Set(v.updates.flat().map((u) => u.name))];
    return {
      variant: v.variant,
      steps,
      totals: {
        pulledBytes: steps.reduce((s, x) => s + x.pulledBytes, 0),
        imageBytes: steps.reduce((s, x) => s + x.imageBytes, 0),
        coldStartSeconds: steps.reduce((s, x) => s + x.coldStart.median, 0),
        laterColdStartSeconds: later.reduce((s, x) => s + x.coldStart.median, 0),
        laterPulledBytes: later.reduce((s, x) => s + x.pulledBytes, 0),
      },
      updates: names.map((name) => {
        const runs = v.updates.flatMap((r) => r.filter((u) => u.name === name));
        return { name, bytes: median(runs.map((u) => u.bytes)), seconds: stat(runs.map((u) => u.seconds)) };
      }),
    };
  });
  const of = (variant: FleetVariant) => variants.find((v) => v.variant === variant)?.totals;
  return {
    schemaVersion: 1,
    rounds: samples.rounds,
    bandwidth: samples.bandwidth,
    node: samples.node,
    fleet: samples.fleet,
    functions: samples.functions,
    variants,
    ratios: {
      pulledBytesVsSingle: ratio(of('fleet')?.pulledBytes, of('single')?.pulledBytes),
      pulledBytesVsOriginal: ratio(of('fleet')?.pulledBytes, of('original')?.pulledBytes),
      coldStartVsSingle: ratio(of('fleet')?.coldStartSeconds, of('single')?.coldStartSeconds),
      coldStartVsOriginal: ratio(of('fleet')?.coldStartSeconds, of('original')?.coldStartSeconds),
    },
  };
}
