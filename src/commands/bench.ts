import { readFile, writeFile } from 'node:fs/promises';
import { engineName, requireEngine } from '../docker/engine.js';
import { inputError, SlimError, usageError } from '../errors.js';
import { loadFleetFile } from '../fleet/fleet-file.js';
import { openImage, parseImageLocation } from '../image/open-image.js';
import { runFleetBench, type FleetBenchFunction } from '../bench/fleet-bench.js';
import type { FleetBenchReport, FleetVariant } from '../bench/fleet-bench-report.js';
import type { NodeKind } from '../bench/bench-node.js';
import { loadRecording } from '../recording/parse.js';
import { requireEngineReference } from '../trace/engine-image.js';
import type { BenchReport } from '../bench/bench-report.js';
import { runBench, type BenchSubject } from '../bench/run-bench.js';
import { RATE_PATTERN } from '../bench/shaped-link.js';
import type { Threshold } from '../bench/thresholds.js';

export interface BenchCommandOptions {
  recordingFile: string;
  node: NodeKind;
  rounds: number;
  warmRounds: number;
  bandwidth?: string;
  registry?: string;
  /** V1 of the original and, when given, of the slim image: `--update-from ORIGINAL_V1[,SLIM_V1]` */
  updateFrom?: string;
  baselineFile?: string;
  thresholds: Threshold[];
  reportOut?: string;
  log: (line: string) => void;
}

async function loadBaseline(file: string): Promise<Pick<BenchReport, 'images'>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw inputError(`cannot read baseline ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    const report = JSON.parse(text) as BenchReport;
    const images = report?.images as Record<string, unknown> | null | undefined;
    if (report?.schemaVersion !== 1 || images === null || typeof images !== 'object' || Array.isArray(images)) throw new Error('not a slim bench --json report');
    for (const [role, image] of Object.entries(images)) {
      const i = image as Record<string, { median?: unknown } | unknown>;
      const figures = ['pull', 'coldStart', 'firstRequestWarm'].every((k) => typeof (i?.[k] as { median?: unknown })?.median === 'number');
      if (typeof i?.compressedBytes !== 'number' || !figures) throw new Error(`its ${role} image has no figures`);
    }
    return report;
  } catch (err) {
    throw inputError(`baseline ${file} is not a slim bench report: ${(err as Error).message}`);
  }
}

/**
 * An image the bench can push: a reference in the engine (its existence shows at the push), or an image
 * file (an OCI layout with zstd layers, say), opened now so a broken one fails before the bench starts.
 */
async function requireBenchable(reference: string): Promise<void> {
  if ((await parseImageLocation(reference)).kind === 'daemon') return;
  const image = await openImage(reference);
  await image.close();
}

/** `slim bench ORIGINAL [SLIM]`: checks the inputs before any container, registry or namespace exists. */
export async function benchCommand(images: string[], options: BenchCommandOptions): Promise<BenchReport> {
  if (images.length === 0 || images.length > 2) throw usageError('give ORIGINAL and SLIM, or one image');
  if (options.bandwidth && !RATE_PATTERN.test(options.bandwidth)) throw usageError(`--bandwidth ${options.bandwidth}: use a tc rate such as 200mbit`);
  if (options.bandwidth && options.registry) throw usageError('--bandwidth shapes the registry slim starts; it cannot be combined with --registry');
  if (options.thresholds.length && !options.baselineFile) throw usageError('--fail-if needs --baseline FILE.json to compare with');
  const recording = await loadRecording(options.recordingFile);
  for (const image of images) await requireBenchable(image);
  const previous = options.updateFrom?.split(',').map((s) => s.trim()).filter(Boolean) ?? [];
  const subjects: BenchSubject[] = images.map((reference, i) => ({
    role: images.length === 2 && i === 1 ? 'slim' : 'original',
    reference,
    updateFrom: previous[i],
  }));
  const baseline = options.baselineFile ? { file: options.baselineFile, report: await loadBaseline(options.baselineFile) } : undefined;
  const report = await runBench({
    subjects,
    recording,
    recordingFile: options.recordingFile,
    rounds: options.rounds,
    warmRounds: options.warmRounds,
    bandwidth: options.bandwidth,
    registry: options.registry,
    node: options.node,
    baseline,
    thresholds: options.thresholds,
    log: options.log,
  });
  if (options.reportOut) {
    await writeFile(options.reportOut, `${JSON.stringify(report, null, 2)}\n`).catch((err: NodeJS.ErrnoException) => {
      throw new SlimError(`cannot write ${options.reportOut}: ${err.code ?? String(err)}`);
    });
  }
  return report;
}

export interface FleetBenchCommandOptions {
  rounds: number;
  node: NodeKind;
  bandwidth?: string;
  registry?: string;
  /** the fleet file of the previous version: time pulling each changed function's new image on a node running it */
  updateFrom?: string;
  reportOut?: string;
  log: (line: string) => void;
}

async function requireInEngine(reference: string, field: string): Promise<void> {
  await requireEngineReference(reference);
  const engine = await requireEngine();
  await engine
    .getImage(reference)
    .inspect()
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode === 404) throw inputError(`${field} ${reference} is not in ${engineName()}`, 'build the fleet first: slim fleet build FLEET.json');
      throw err;
    });
}

/** `slim bench --fleet FLEET.json`: the originals, the per-image slim images (singleTag) and the fleet images, each started in turn on one node. */
export async function fleetBenchCommand(fleetFile: string, options: FleetBenchCommandOptions): Promise<FleetBenchReport> {
  if (options.node === 'stargz') throw usageError('--node stargz lazy-pulls eStargz images, and slim fleet build does not write them', 'bench the fleet with --node docker or --node containerd');
  if (options.bandwidth && !RATE_PATTERN.test(options.bandwidth)) throw usageError(`--bandwidth ${options.bandwidth}: use a tc rate such as 200mbit`);
  if (options.bandwidth && options.registry) throw usageError('--bandwidth shapes the registry slim starts; it cannot be combined with --registry');
  const spec = await loadFleetFile(fleetFile);
  const withSingle = spec.functions.filter((f) => f.singleTag).length;
  if (withSingle > 0 && withSingle < spec.functions.length) {
    throw inputError(`${fleetFile}: ${spec.functions.find((f) => !f.singleTag)!.field}.singleTag is missing: give every function its per-image slim image, or none`);
  }
  const variants: FleetVariant[] = withSingle ? ['original', 'single', 'fleet'] : ['original', 'fleet'];
  const previous = options.updateFrom ? await loadFleetFile(options.updateFrom) : undefined;
  const functions: FleetBenchFunction[] = [];
  for (const f of spec.functions) {
    const images: Partial<Record<FleetVariant, string>> = { original: f.image, fleet: f.tag, ...(f.singleTag ? { single: f.singleTag } : {}) };
    for (const [variant, image] of Object.entries(images)) await requireInEngine(image, `${spec.file}: ${f.field} (${variant})`);
    const before = previous?.functions.find((p) => p.name === f.name);
    const changed: Partial<Record<FleetVariant, string>> = {};
    if (before && before.image !== f.image) {
      const old: Partial<Record<FleetVariant, string>> = { original: before.image, fleet: before.tag, ...(before.singleTag ? { single: before.singleTag } : {}) };
      for (const variant of variants) {
        if (!old[variant]) throw inputError(`${options.updateFrom}: ${before.field}.singleTag is missing, and ${fleetFile} has one`);
        await requireInEngine(old[variant]!, `${options.updateFrom}: ${before.field} (${variant})`);
        changed[variant] = old[variant];
      }
    }
    functions.push({ name: f.name, recording: await loadRecording(f.recording), images, ...(before && before.image !== f.image ? { previous: changed } : {}) });
  }
  const report = await runFleetBench({ fleetFile, functions, variants, rounds: options.rounds, bandwidth: options.bandwidth, registry: options.registry, node: options.node, log: options.log });
  if (options.reportOut) {
    await writeFile(options.reportOut, `${JSON.stringify(report, null, 2)}\n`).catch((err: NodeJS.ErrnoException) => {
      throw new SlimError(`cannot write ${options.reportOut}: ${err.code ?? String(err)}`);
    });
  }
  return report;
}
