import { writeFile } from 'node:fs/promises';
import { makeTempDir } from '../cleanup.js';
import { SlimError, usageError } from '../errors.js';
import { assembleImage } from '../image/image-writer.js';
import { GzipSizeCache } from '../image/gzip-size-cache.js';
import type { LayerCompression } from '../image/layer-writer.js';
import { prepareImage, type PreparedImage } from '../image/prepare.js';
import type { Image } from '../image/types.js';
import type { ContentRange } from '../image/content-range.js';
import { performance } from 'node:perf_hooks';
import type { GroupOverride } from '../plan/grouping.js';
import { planLayers, type Plan } from '../plan/plan.js';
import { loadRecording } from '../recording/parse.js';
import { checkSeccompDestination, renderSeccompProfile, seccompProfile, writeSeccompFile } from '../security/seccomp.js';
import { requireEngineReference } from '../trace/engine-image.js';
import { startTraceRunEarly, traceImage, type ImageTrace, type TraceOptions } from '../trace/trace-image.js';
import { profileDocument } from '../trace/trace-summary.js';
import { VERSION } from '../version.js';
import { groupLayerTitle, prefetchOrder, prefetchRecords, sourceDateEpoch, writePlannedLayer } from '../build/layer-contents.js';
import { checkOutput, describeOutput, writeOutput, type BuildOutput } from '../build/outputs.js';
import { attackSurfaceChange, buildReport, type BuildReport } from '../build/report.js';
import { loadUntagged } from '../build/slim-image.js';
import { defaultSlimTag, refuseOriginalTag, requireValidTag, retag } from '../build/slim-tag.js';
import { verificationError, verifySlim } from '../build/verify-slim.js';
import { replaceContents } from '../build/replacements.js';
import { jlinkRuntime, requireJavaRuntime, type JlinkedRuntime } from '../jvm/jlink-runtime.js';
import { jlinkVerificationError } from '../jvm/jlink-report.js';
import { PhaseClock } from '../timings.js';
import { mapConcurrent } from '../concurrency.js';

export interface BuildOptions extends TraceOptions {
  recordingFile: string;
  tag?: string;
  outputs: BuildOutput[];
  verify: boolean;
  groups: GroupOverride[];
  baseLayers: number;
  profileOut?: string;
  /** write a seccomp profile of every traced syscall here; verification runs the slim image under it */
  seccompOut?: string;
  /** verify a registry output's TLS certificate (false also allows plain HTTP) */
  tlsVerify: boolean;
  compression: LayerCompression;
  /** the trace's read order as nerdctl's estargz record (JSON lines) and as a plain list of paths */
  estargzRecordOut?: string;
  prefetchListOut?: string;
  /** replace the Java runtime's modules with a jlink'd one of the modules the run used */
  jvmJlink?: { extraModules: string[] };
}

/** The original's layers gzip-compressed as slim compresses its own, one layer per core, each measured once per cache. */
async function originalCompressedBytes(image: Image, signal: AbortSignal): Promise<number> {
  const cache = new GzipSizeCache();
  const sizes = await mapConcurrent(image.layers, (layer) => cache.layerSize(layer, signal));
  return sizes.reduce((a, b) => a + b, 0);
}

async function writeSideFile(file: string, text: string): Promise<void> {
  await writeFile(file, text).catch((err: NodeJS.ErrnoException) => {
    throw new SlimError(`cannot write ${file}: ${err.code ?? String(err)}`);
  });
}

async function writeProfile(file: string, document: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(document, null, 2)}\n`).catch((err: NodeJS.ErrnoException) => {
    throw new SlimError(`cannot write the profile to ${file}: ${err.code ?? String(err)}`);
  });
}

/** Where a kept file's content comes from: the linked Java runtime for what --jvm-jlink replaced, else the image. */
function slimContent(fs: NonNullable<PreparedImage['fs']>, jvm: JlinkedRuntime | undefined): (path: string) => ContentRange | undefined {
  return (path) => {
    const replaced = jvm?.replacements.get(path);
    return replaced ? { file: replaced.file, start: 0, size: replaced.size } : fs.content(path);
  };
}

/** The audit log --profile-out writes: the trace's, plus each kept path's layer group and the rule that chose it. */
export async function buildProfileDocument(traced: ImageTrace, prepared: PreparedImage, plan: Plan, recordingFile: string, jvm?: JlinkedRuntime) {
  const { image, index } = prepared;
  const fs = prepared.fs!;
  const groups = [...plan.entries.values()].sort((a, b) => (a.path < b.path ? -1 : 1)).map((e) => ({ path: e.path, group: e.group, rule: e.rule }));
  // a replaced file is described as the slim image holds it
  const document = { ...(await profileDocument(traced, index, slimContent(fs, jvm), { reference: image.reference, id: image.id }, recordingFile)), groups };
  if (!jvm) return document;
  const kept = document.kept.map((k) => {
    const replaced = jvm.replacements.get(k.path);
    return replaced ? { ...k, bytes: replaced.size, replaced: true } : k;
  });
  return { ...document, kept, jvm: jvmProfile(jvm) };
}

/** What --jvm-jlink linked, for the profile: the root modules with why, and every module the runtime holds. */
function jvmProfile(jvm: JlinkedRuntime) {
  return {
    javaHome: jvm.javaHome,
    javaVersion: jvm.javaVersion ?? null,
    jdk: jvm.jdk,
    modules: jvm.modules,
    linked: jvm.linked,
    locales: jvm.locales,
    replaced: [...jvm.replacements].map(([path, r]) => ({ path, bytes: r.size })),
  };
}

/** trace → keep set → plan → write → load → verify → tag and outputs → report. */
export async function buildSlimImage(reference: string, options: BuildOptions, log: (line: string) => void): Promise<BuildReport> {
  if (options.tag !== undefined) requireValidTag(options.tag);
  const recording = await loadRecording(options.recordingFile);
  await requireEngineReference(reference);
  for (const output of options.outputs) await checkOutput(output);
  if (options.seccompOut !== undefined) await checkSeccompDestination(options.seccompOut);
  const tag = options.tag ?? (options.outputs.length === 0 ? defaultSlimTag(reference) : undefined);
  if (options.outputs.length === 0 && !tag) throw usageError(`${reference} has no name to derive the slim tag from`, 'give --tag NAME:TAG');
  const epoch = sourceDateEpoch();

  const clock = new PhaseClock(log);
  const traceOptions = { ...options, allSyscalls: options.seccompOut !== undefined };
  // the traced run needs only the engine's image: it runs while the layers are read; with --jvm-jlink the
  // image must first show a Java runtime, which takes the index
  const started = options.jvmJlink ? undefined : await startTraceRunEarly(reference, recording, traceOptions);
  if (started) {
    log('tracing a run of the recording, alongside reading the image');
    const at = performance.now();
    started.run.then(
      () => clock.record('the traced run', performance.now() - at),
      () => undefined,
    );
  }
  log(`reading ${reference}`);
  // from the moment the image is open, alongside everything up to the report (the CPU is idle while functions run)
  let compressing: Promise<number> | undefined;
  const stopCompressing = new AbortController();
  const prepared = await prepareImage(reference, {
    contents: true,
    clock,
    onOpened: (image) => {
      compressing = clock.phase("measuring the original's gzip size", () => originalCompressedBytes(image, stopCompressing.signal));
      // awaited at the report; a failure before then must not leave it unhandled
      compressing.catch(() => undefined);
    },
  }).catch(async (err: unknown) => {
    stopCompressing.abort();
    await compressing?.catch(() => undefined);
    await started?.stop();
    throw err;
  });
  const work = await makeTempDir('build');
  let release = async () => undefined as void;
  try {
    const { image, index } = prepared;
    const fs = prepared.fs!;
    refuseOriginalTag(image, tag);
    if (options.jvmJlink) requireJavaRuntime(fs, [...index.records()].map((r) => `/${r.path}`), image.reference);
    if (!started) log('tracing a run of the recording');
    const traced = await clock.phase(started ? 'the rest of the trace, and what the run needs' : 'tracing', () => traceImage(image, index, fs, recording, traceOptions, started));
    const seccomp = options.seccompOut === undefined ? undefined : seccompProfile(Object.keys(traced.profile.syscalls));
    const jvmJlink = options.jvmJlink;
    const jvm = jvmJlink
      ? await clock.phase('linking the Java runtime', () => jlinkRuntime({
          image,
          fs,
          kept: new Set(traced.closure.keep.paths()),
          owners: traced.owners,
          recording,
          extraModules: jvmJlink.extraModules,
          workDir: work.path,
          log,
        }))
      : undefined;
    const planned = planLayers(traced.closure.keep.paths(), index, fs, {
      owners: traced.owners,
      workingDir: image.config.config?.WorkingDir || '/',
      baseLayers: options.baseLayers,
      overrides: options.groups,
    });
    const plan = jvm ? replaceContents(planned, jvm.replacements) : planned;
    const contentOf = slimContent(fs, jvm);

    log('writing layers');
    const comment = (l: Plan['layers'][number]) => `${l.files} files, ${l.bytes} bytes kept from ${image.id}`;
    const firstAt = (path: string) => traced.closure.keep.get(path)?.firstAt;
    // one layer per core: zlib and zstd compress on libuv's threads, and each layer's bytes depend only on its entries
    const layers = await clock.phase('writing layers', () =>
      mapConcurrent(plan.layers, (layer, i) => {
        // eStargz: what the run reads first comes first, so a lazy-pulling node prefetches just that
        const ordered = options.compression === 'estargz' ? prefetchOrder(layer.entries, firstAt) : { entries: layer.entries, prefetch: 0 };
        const toWrite = { title: groupLayerTitle(layer), comment: comment(layer), ...ordered };
        return writePlannedLayer(toWrite, (e) => contentOf(e.path), work.path, String(i), { epoch, compression: options.compression });
      }),
    );
    const assembled = assembleImage(JSON.parse(image.rawConfig.toString()) as Record<string, unknown>, layers, { 'io.slim.source-image': image.id, 'io.slim.version': VERSION });

    log('loading the slim image into the engine');
    const slim = await clock.phase('loading', () => loadUntagged(assembled));
    release = slim.release;
    let verification;
    if (options.verify) {
      log('verifying: replaying the recording against the original and the slim image');
      const outcome = await clock.phase('verifying', () => verifySlim(image.id, slim.id, recording, seccomp && JSON.stringify(seccomp.profile), traced.run.replayed));
      if (!outcome.ok) {
        const whatBecameOfIt = await slim.discard();
        throw (jvm && jlinkVerificationError(outcome, whatBecameOfIt)) || verificationError(outcome, whatBecameOfIt);
      }
      verification = outcome.result;
    }
    if (tag) await retag(slim.id, tag);
    for (const output of options.outputs) {
      log(`writing ${describeOutput(output)}`);
      await clock.phase(`writing ${describeOutput(output)}`, () => writeOutput(assembled, output, { tag, tlsVerify: options.tlsVerify }));
    }
    if (seccomp && options.seccompOut !== undefined) await writeSeccompFile(options.seccompOut, renderSeccompProfile(seccomp.profile));
    if (options.profileOut) await writeProfile(options.profileOut, await buildProfileDocument(traced, prepared, plan, options.recordingFile, jvm));
    if (options.estargzRecordOut !== undefined || options.prefetchListOut !== undefined) {
      const records = prefetchRecords(plan.layers, firstAt);
      if (options.estargzRecordOut !== undefined) await writeSideFile(options.estargzRecordOut, records.jsonLines);
      if (options.prefetchListOut !== undefined) await writeSideFile(options.prefetchListOut, records.list);
    }
    const compressedBytes = await compressing!;
    return buildReport({
      original: {
        reference,
        id: image.id,
        visibleBytes: traced.usage.visibleBytes,
        layerBytes: prepared.listings.reduce((s, l) => s + l.bytes, 0),
        compressedBytes,
        layers: image.layers.length,
      },
      slimId: slim.id,
      tag,
      outputs: options.outputs.map(describeOutput),
      plan,
      layers,
      compression: options.compression,
      tracedFloorBytes: traced.usage.tracedBytes,
      verification,
      seccomp: seccomp && options.seccompOut !== undefined ? { file: options.seccompOut, syscalls: seccomp.names.length } : null,
      attackSurface: attackSurfaceChange(index, plan.entries.values()),
      jvm: jvm && { javaHome: jvm.javaHome, jdk: jvm.jdk, modules: jvm.modules.map((m) => m.name), linked: jvm.linked.length, fromCache: jvm.fromCache, replaced: [...jvm.replacements].map(([path, r]) => ({ path, bytes: r.size, originalBytes: index.get(path)?.size ?? 0 })) },
      warnings: [...traced.closure.warnings, ...plan.skipped.map((s) => `not written: ${s}`), ...(seccomp?.warnings ?? []), ...(jvm?.warnings ?? [])],
      timings: clock.timings(),
    });
  } finally {
    // a failed build does not wait for a figure it will not report
    stopCompressing.abort();
    await compressing?.catch(() => undefined);
    // after a success the run has long settled; after a failure it stops at once
    await started?.stop();
    await release();
    await work.remove();
    await prepared.close();
  }
}
