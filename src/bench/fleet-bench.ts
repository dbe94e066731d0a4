import type { Recording } from '../recording/types.js';
import { withBenchNode, type BenchNode, type NodeKind } from './bench-node.js';
import { fleetBenchReport, type FleetBenchReport, type FleetBenchSamples, type FleetStepSample, type FleetVariant } from './fleet-bench-report.js';
import type { PushedImage, Registry } from './registry.js';

export interface FleetBenchFunction {
  name: string;
  recording: Recording;
  /** the image of each variant, in the engine */
  images: Partial<Record<FleetVariant, string>>;
  /** the same function's previous version per variant, when it changed (`--update-from`) */
  previous?: Partial<Record<FleetVariant, string>>;
}

export interface FleetBenchOptions {
  fleetFile: string;
  functions: FleetBenchFunction[];
  variants: FleetVariant[];
  rounds: number;
  bandwidth?: string;
  registry?: string;
  node: NodeKind;
  log: (line: string) => void;
}

interface Pushed {
  current: PushedImage[];
  previous: Array<PushedImage | undefined>;
}

async function pushVariant(registry: Registry, options: FleetBenchOptions, variant: FleetVariant, log: (line: string) => void): Promise<Pushed> {
  const current: PushedImage[] = [];
  const previous: Array<PushedImage | undefined> = [];
  for (const [i, f] of options.functions.entries()) {
    log(`pushing ${f.images[variant]}`);
    current.push(await registry.push(f.images[variant]!, `slim-bench/${variant}-${i}`, 'current'));
    const before = f.previous?.[variant];
    previous.push(before ? await registry.push(before, `slim-bench/${variant}-${i}`, 'previous') : undefined);
  }
  return { current, previous };
}

/** The node starts the fleet's functions one after another, keeping what each pulled, as a real node's cache does. */
async function runSequence(engine: BenchNode, options: FleetBenchOptions, variant: FleetVariant, images: PushedImage[], log: (line: string) => void): Promise<FleetStepSample[]> {
  await engine.removeEverything();
  const steps: FleetStepSample[] = [];
  for (const [k, f] of options.functions.entries()) {
    log(`${variant}: function ${k + 1}/${options.functions.length}, ${f.name}`);
    const pull = await engine.pull(images[k]!.reference);
    const cold = await engine.timeFirstRequest(images[k]!.reference, f.recording, `bench-fleet-${variant}`);
    const warm = await engine.timeFirstRequest(images[k]!.reference, f.recording, `bench-fleet-${variant}`);
    steps.push({ bytes: pull.bytes, pullSeconds: pull.seconds, firstRequestColdMs: cold, firstRequestWarmMs: warm });
  }
  return steps;
}

/** A node running the previous fleet pulls each changed function's new version. */
async function runUpdates(engine: BenchNode, options: FleetBenchOptions, pushed: Pushed): Promise<Array<{ name: string; bytes: number; seconds: number }>> {
  if (pushed.previous.every((p) => p === undefined)) return [];
  await engine.removeEverything();
  for (const [k, image] of pushed.current.entries()) await engine.pull((pushed.previous[k] ?? image).reference);
  const updates = [];
  for (const [k, f] of options.functions.entries()) {
    if (!pushed.previous[k]) continue;
    const pull = await engine.pull(pushed.current[k]!.reference);
    updates.push({ name: f.name, bytes: pull.bytes, seconds: pull.seconds });
  }
  return updates;
}

/**
 * Plays one node that starts every function of the fleet in turn, for each variant (the originals, the
 * per-image slim images, the fleet images), from an empty node each round; rounds alternate the order
 * of the variants so drift on a shared machine hits them alike.
 */
export async function runFleetBench(options: FleetBenchOptions): Promise<FleetBenchReport> {
  return withBenchNode(options, async ({ registry, node: engine }) => {
    const pushed = new Map<FleetVariant, Pushed>();
    for (const variant of options.variants) pushed.set(variant, await pushVariant(registry, options, variant, options.log));
    const samples: FleetBenchSamples = {
      rounds: options.rounds,
      bandwidth: options.bandwidth ?? null,
      node: engine.description,
      fleet: options.fleetFile,
      functions: options.functions.map((f) => f.name),
      variants: options.variants.map((variant) => ({
        variant,
        references: options.functions.map((f) => f.images[variant]!),
        imageBytes: pushed.get(variant)!.current.map((p) => p.bytes),
        layerBytes: pushed.get(variant)!.current.map((p) => p.layers.map((l) => l.size)),
        rounds: [],
        updates: [],
      })),
    };
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? samples.variants : [...samples.variants].reverse();
      for (const v of order) {
        const log = (line: string) => options.log(`round ${round + 1}/${options.rounds}: ${line}`);
        v.rounds.push(await runSequence(engine, options, v.variant, pushed.get(v.variant)!.current, log));
        v.updates.push(await runUpdates(engine, options, pushed.get(v.variant)!));
      }
    }
    await engine.removeEverything();
    return fleetBenchReport(samples);
  });
}
