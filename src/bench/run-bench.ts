import type { Recording } from '../recording/types.js';
import { withBenchNode, type NodeKind } from './bench-node.js';
import { metricsOf, type BenchReport, type ImageBench, type Role } from './bench-report.js';
import type { PushedImage } from './registry.js';
import { ratio, stat } from './stats.js';
import { checkThresholds, type Metric, type Threshold } from './thresholds.js';
import { PhaseClock } from '../timings.js';
import { performance } from 'node:perf_hooks';

export interface BenchSubject {
  role: Role;
  reference: string;
  /** the same function before a code change, for the update measurement */
  updateFrom?: string;
}

export interface BenchOptions {
  subjects: BenchSubject[];
  recording: Recording;
  recordingFile: string;
  rounds: number;
  /** first requests per image with the image cached, after the cold rounds */
  warmRounds: number;
  bandwidth?: string;
  registry?: string;
  node: NodeKind;
  baseline?: { file: string; report: Pick<BenchReport, 'images'> };
  thresholds: Threshold[];
  log: (line: string) => void;
}

interface Samples {
  pull: number[];
  pulledBytes: number[];
  firstRequestCold: number[];
  firstRequestWarm: number[];
  coldStart: number[];
  update: number[];
  updateBytes: number;
}

/** The subjects in order on even rounds and reversed on odd ones, so no image always goes first. */
function alternating<T>(subjects: T[], round: number): T[] {
  return round % 2 === 0 ? subjects : [...subjects].reverse();
}

/**
 * Measures each image as a serverless node would meet it: a registry (on 127.0.0.1, or behind a shaped
 * link in a network namespace), an engine of its own holding none of the image's layers, and for each
 * round a cold pull and the first request right after it. Rounds alternate the images so drift on a
 * shared machine hits both alike. Then, with every image cached, warm starts in pairs whose order
 * alternates too: whatever the first start of a pair leaves warm for the second must not always
 * favour the same image.
 */
export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const clock = new PhaseClock(options.log);
  let since = performance.now();
  const report = await withBenchNode(options, async ({ registry: reg, node }) => {
    clock.record('starting the registry and the node', performance.now() - since);
    const pushed = new Map<Role, { image: PushedImage; previous?: PushedImage }>();
    await clock.phase('pushing', async () => {
      for (const subject of options.subjects) {
        options.log(`pushing ${subject.reference}`);
        const image = await reg.push(subject.reference, `slim-bench/${subject.role}`, 'current');
        const previous = subject.updateFrom ? await reg.push(subject.updateFrom, `slim-bench/${subject.role}`, 'previous') : undefined;
        pushed.set(subject.role, { image, previous });
      }
    });

    const samples = new Map<Role, Samples>(options.subjects.map((s) => [s.role, { pull: [], pulledBytes: [], firstRequestCold: [], firstRequestWarm: [], coldStart: [], update: [], updateBytes: 0 }]));
    const coldRoundsStarted = performance.now();
    for (let round = 0; round < options.rounds; round++) {
      for (const subject of alternating(options.subjects, round)) {
        const { image, previous } = pushed.get(subject.role)!;
        const s = samples.get(subject.role)!;
        options.log(`round ${round + 1}/${options.rounds}: ${subject.role}`);
        await node.removeImageCompletely(image.reference);
        const pull = await node.pull(image.reference);
        const cold = await node.timeFirstRequest(image.reference, options.recording, `bench-${subject.role}`);
        s.pull.push(pull.seconds);
        s.pulledBytes.push(pull.bytes);
        s.firstRequestCold.push(cold);
        s.coldStart.push(pull.seconds + cold / 1000);
        if (previous) {
          await node.removeImageCompletely(image.reference);
          await node.removeImageCompletely(previous.reference);
          await node.pull(previous.reference);
          const update = await node.pull(image.reference);
          s.update.push(update.seconds);
          s.updateBytes = update.bytes;
        }
      }
    }
    clock.record('cold rounds', performance.now() - coldRoundsStarted);
    const warmStarted = performance.now();
    // every image present (a lazy node keeps only the last one pulled) and started once, unmeasured
    for (const subject of options.subjects) {
      const { image } = pushed.get(subject.role)!;
      options.log(`warming up ${subject.role}`);
      await node.pull(image.reference);
      await node.timeFirstRequest(image.reference, options.recording, `bench-${subject.role}`);
    }
    for (let round = 0; round < options.warmRounds; round++) {
      for (const subject of alternating(options.subjects, round)) {
        options.log(`warm start ${round + 1}/${options.warmRounds}: ${subject.role}`);
        const { image } = pushed.get(subject.role)!;
        samples.get(subject.role)!.firstRequestWarm.push(await node.timeFirstRequest(image.reference, options.recording, `bench-${subject.role}`));
      }
    }
    clock.record('warm starts', performance.now() - warmStarted);

    const images: Partial<Record<Role, ImageBench>> = {};
    for (const subject of options.subjects) {
      const s = samples.get(subject.role)!;
      const { image } = pushed.get(subject.role)!;
      images[subject.role] = {
        role: subject.role,
        reference: subject.reference,
        layers: image.layers.length,
        compressedBytes: image.bytes,
        pull: stat(s.pull),
        pulledBytes: stat(s.pulledBytes).median,
        firstRequestCold: stat(s.firstRequestCold),
        firstRequestWarm: stat(s.firstRequestWarm),
        coldStart: stat(s.coldStart),
        update: subject.updateFrom ? { from: subject.updateFrom, bytes: s.updateBytes, seconds: stat(s.update) } : null,
      };
    }
    const { original, slim } = images;
    const report: BenchReport = {
      schemaVersion: 1,
      rounds: options.rounds,
      warmRounds: options.warmRounds,
      bandwidth: options.bandwidth ?? null,
      node: node.description,
      recording: options.recordingFile,
      images,
      ratios: {
        compressedBytes: ratio(slim?.compressedBytes, original?.compressedBytes),
        pull: ratio(slim?.pull.median, original?.pull.median),
        coldStart: ratio(slim?.coldStart.median, original?.coldStart.median),
        firstRequestWarm: ratio(slim?.firstRequestWarm.median, original?.firstRequestWarm.median),
        updateBytes: ratio(slim?.update?.bytes, original?.update?.bytes),
      },
      baseline: null,
      thresholds: [],
      timings: { totalMs: 0, phases: [] },
    };
    if (options.baseline) {
      const now = metricsOf(report);
      const before = metricsOf(options.baseline.report);
      const deltas: Partial<Record<Metric, number | null>> = {};
      for (const metric of Object.keys(now) as Metric[]) {
        const a = now[metric];
        const b = before[metric];
        deltas[metric] = a === null || b === null || b === 0 ? null : (a - b) / b;
      }
      report.baseline = { file: options.baseline.file, deltas };
      report.thresholds = checkThresholds(options.thresholds, now, before);
    }
    since = performance.now();
    return report;
  });
  clock.record('stopping the registry and the node', performance.now() - since);
  return { ...report, timings: clock.timings() };
}
