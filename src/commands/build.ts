import { writeFile } from 'node:fs/promises';
import { makeTempDir } from '../cleanup.js';
import { SlimError, usageError } from '../errors.js';
import { assembleImage } from '../image/image-writer.js';
import { openLayerTar } from '../image/layer-decoder.js';
import { gzipSize, type LayerCompression } from '../image/layer-writer.js';
import { prepareImage, type PreparedImage } from '../image/prepare.js';
import type { GroupOverride } from '../plan/grouping.js';
import { planLayers, type Plan } from '../plan/plan.js';
import { loadRecording } from '../recording/parse.js';
import { checkSeccompDestination, renderSeccompProfile, seccompProfile, writeSeccompFile } from '../security/seccomp.js';
import { requireEngineReference } from '../trace/engine-image.js';
import { traceImage, type ImageTrace, type TraceOptions } from '../trace/trace-image.js';
import { profileDocument } from '../trace/trace-summary.js';
import { VERSION } from '../version.js';
import { groupLayerTitle, prefetchOrder, prefetchRecords, sourceDateEpoch, writePlannedLayer } from '../build/layer-contents.js';
import { checkOutput, describeOutput, writeOutput, type BuildOutput } from '../build/outputs.js';
import { attackSurfaceChange, buildReport, type BuildReport } from '../build/report.js';
import { loadUntagged } from '../build/slim-image.js';
import { defaultSlimTag, refuseOriginalTag, retag } from '../build/slim-tag.js';
import { verificationError, verifySlim } from '../build/verify-slim.js';
import { replaceContents } from '../build/replacements.js';
import { jlinkRuntime, requireJavaRuntime, type JlinkedRuntime } from '../jvm/jlink-runtime.js';
import { jlinkVerificationError } from '../jvm/jlink-report.js';

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

async function originalCompressedBytes(prepared: PreparedImage): Promise<number> {
  let total = 0;
  for (const layer of prepared.image.layers) total += await gzipSize(openLayerTar(layer));
  return total;
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
function slimContent(fs: NonNullable<PreparedImage['fs']>, jvm: JlinkedRuntime | undefined): (path: string) => string | undefined {
  return (path) => jvm?.replacements.get(path)?.file ?? fs.contentFile(path);
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
  const recording = await loadRecording(options.recordingFile);
  await requireEngineReference(reference);
  for (const output of options.outputs) await checkOutput(output);
  if (options.seccompOut !== undefined) await checkSeccompDestination(options.seccompOut);
  const tag = options.tag ?? (options.outputs.length === 0 ? defaultSlimTag(reference) : undefined);
  if (options.outputs.length === 0 && !tag) throw usageError(`${reference} has no name to derive the slim tag from`, 'give --tag NAME:TAG');
  const epoch = sourceDateEpoch();

  log(`reading ${reference}`);
  const prepared = await prepareImage(reference, { contents: true });
  const work = await makeTempDir('build');
  let release = async () => undefined as void;
  try {
    const { image, index } = prepared;
    const fs = prepared.fs!;
    refuseOriginalTag(image, tag);
    if (options.jvmJlink) requireJavaRuntime(fs, [...index.records()].map((r) => `/${r.path}`), image.reference);
    log('tracing a run of the recording');
    const traced = await traceImage(image, index, fs, recording, { ...options, allSyscalls: options.seccompOut !== undefined });
    const seccomp = options.seccompOut === undefined ? undefined : seccompProfile(Object.keys(traced.profile.syscalls));
    const jvm = options.jvmJlink
      ? await jlinkRuntime({
          image,
          fs,
          kept: new Set(traced.closure.keep.paths()),
          owners: traced.owners,
          recording,
          extraModules: options.jvmJlink.extraModules,
          workDir: work.path,
          log,
        })
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
    const layers = [];
    const firstAt = (path: string) => traced.closure.keep.get(path)?.firstAt;
    for (const [i, layer] of plan.layers.entries()) {
      // eStargz: what the run reads first comes first, so a lazy-pulling node prefetches just that
      const ordered = options.compression === 'estargz' ? prefetchOrder(layer.entries, firstAt) : { entries: layer.entries, prefetch: 0 };
      const toWrite = { title: groupLayerTitle(layer), comment: comment(layer), ...ordered };
      layers.push(await writePlannedLayer(toWrite, (e) => contentOf(e.path), work.path, String(i), { epoch, compression: options.compression }));
    }
    const assembled = assembleImage(JSON.parse(image.rawConfig.toString()) as Record<string, unknown>, layers, { 'io.slim.source-image': image.id, 'io.slim.version': VERSION });

    log('loading the slim image into the engine');
    const slim = await loadUntagged(assembled);
    release = slim.release;
    const compressing = originalCompressedBytes(prepared);
    // awaited below; a failure before that (a failed output write) must not leave it unhandled
    compressing.catch(() => undefined);
    let verification;
    if (options.verify) {
      log('verifying: replaying the recording against the original and the slim image');
      const outcome = await verifySlim(image.id, slim.id, recording, seccomp && JSON.stringify(seccomp.profile));
      if (!outcome.ok) {
        const whatBecameOfIt = await slim.discard();
        await compressing.catch(() => undefined);
        throw (jvm && jlinkVerificationError(outcome, whatBecameOfIt)) || verificationError(outcome, whatBecameOfIt);
      }
      verification = outcome.result;
    }
    if (tag) await retag(slim.id, tag);
    for (const output of options.outputs) {
      log(`writing ${describeOutput(output)}`);
      await writeOutput(assembled, output, { tag, tlsVerify: options.tlsVerify });
    }
    if (seccomp && options.seccompOut !== undefined) await writeSeccompFile(options.seccompOut, renderSeccompProfile(seccomp.profile));
    if (options.profileOut) await writeProfile(options.profileOut, await buildProfileDocument(traced, prepared, plan, options.recordingFile, jvm));
    if (options.estargzRecordOut !== undefined || options.prefetchListOut !== undefined) {
      const records = prefetchRecords(plan.layers, firstAt);
      if (options.estargzRecordOut !== undefined) await writeSideFile(options.estargzRecordOut, records.jsonLines);
      if (options.prefetchListOut !== undefined) await writeSideFile(options.prefetchListOut, records.list);
    }
    return buildReport({
      original: {
        reference,
        id: image.id,
        visibleBytes: traced.usage.visibleBytes,
        layerBytes: prepared.listings.reduce((s, l) => s + l.bytes, 0),
        compressedBytes: await compressing,
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
    });
  } finally {
    await release();
    await work.remove();
    await prepared.close();
  }
}
