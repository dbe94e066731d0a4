import { constants } from 'node:fs';
import { access, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { attackSurface, type AttackSurfaceChange } from '../analyze/attack-surface.js';
import { makeTempDir, onCleanup } from '../cleanup.js';
import { requireEngine } from '../docker/engine.js';
import { loadIntoEngine, removeIfUntagged, tagImage } from '../docker/load.js';
import { ExitCode, SlimError, usageError, writeFailure } from '../errors.js';
import { assembleImage, writeDockerArchiveFile, writeOciLayout, type NewLayer } from '../image/image-writer.js';
import { openLayerTar } from '../image/layer-decoder.js';
import { gzipSize, writeLayer, type TarEntrySpec } from '../image/layer-writer.js';
import { prepareImage } from '../image/prepare.js';
import type { IndexImageFs } from '../image/rootfs.js';
import { GROUP_TITLES, type GroupOverride, type LayerGroup } from '../plan/grouping.js';
import { planLayers, type Plan, type PlannedEntry } from '../plan/plan.js';
import { loadRecording } from '../recording/parse.js';
import { checkSeccompDestination, renderSeccompProfile, seccompProfile, writeSeccompFile } from '../security/seccomp.js';
import { requireEngineReference } from '../trace/engine-image.js';
import { traceImage, type TraceOptions } from '../trace/trace-image.js';
import { profileDocument } from '../trace/trace-summary.js';
import { verifyImages, type VerifyResult } from '../verify/verify.js';
import { VERSION } from '../version.js';

export type BuildOutput = { kind: 'docker-archive'; path: string } | { kind: 'oci'; path: string };

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
}

export interface BuildReport {
  schemaVersion: 1;
  original: { reference: string; id: string; visibleBytes: number; layerBytes: number; compressedBytes: number; layers: number };
  slim: {
    id: string;
    tag: string | null;
    outputs: string[];
    fileBytes: number;
    tarBytes: number;
    compressedBytes: number;
    files: number;
    layers: Array<{ group: LayerGroup; title: string; files: number; bytes: number; tarBytes: number; compressedBytes: number; diffId: string; digest: string }>;
  };
  tracedFloorBytes: number;
  /** slim uncompressed content / traced floor */
  floorRatio: number;
  verification: { verified: boolean; ok: boolean | null; requests: number; differing: number; report: string | null };
  /** the profile --seccomp-out wrote, and how many syscalls it allows */
  seccomp: { file: string; syscalls: number } | null;
  /** shells, package managers, setuid/setgid binaries and executables in the original and the slim image */
  attackSurface: AttackSurfaceChange;
  warnings: string[];
}

/** `slim-fixture/app:v1` → `slim-fixture/app:v1-slim`; an image ID has no name to derive from. */
export function defaultSlimTag(reference: string): string | undefined {
  if (/^(sha256:)?[0-9a-f]{12,64}$/.test(reference)) return undefined;
  const at = reference.indexOf('@');
  const name = at === -1 ? reference : reference.slice(0, at);
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return colon > slash ? `${name}-slim` : `${name}:latest-slim`;
}

export function parseOutput(text: string): BuildOutput {
  if (text.startsWith('docker-archive:') && text.length > 'docker-archive:'.length) return { kind: 'docker-archive', path: text.slice('docker-archive:'.length) };
  if (text.startsWith('oci:') && text.length > 4) return { kind: 'oci', path: text.slice(4) };
  throw usageError(`--output ${text}: use docker-archive:FILE or oci:DIR`);
}

/** An OCI output directory must be new or empty: a failed write removes it, and must not remove a user's files. */
async function checkOutput(output: BuildOutput): Promise<void> {
  if (output.kind === 'docker-archive') {
    const dir = dirname(output.path) || '.';
    if (!(await access(dir, constants.W_OK).then(() => true, () => false))) {
      throw usageError(`--output docker-archive:${output.path}: ${dir} is not a writable directory`);
    }
    return;
  }
  const info = await stat(output.path).catch(() => undefined);
  if (!info) {
    // a new directory: the nearest existing parent must take it
    let parent = dirname(output.path);
    while (parent !== dirname(parent) && !(await stat(parent).then((i) => i.isDirectory(), () => false))) parent = dirname(parent);
    if (!(await access(parent, constants.W_OK).then(() => true, () => false))) {
      throw usageError(`--output oci:${output.path}: ${parent} is not a writable directory`);
    }
    return;
  }
  if (!info.isDirectory() || (await readdir(output.path)).length > 0) {
    throw usageError(`--output oci:${output.path}: the directory exists and is not empty`, 'name a new or empty directory');
  }
}

function isPythonSource(path: string): boolean {
  return path.endsWith('.py');
}

/**
 * What the writer gets for a planned entry. Timestamps are the fixed epoch, except Python sources:
 * their `.pyc` caches are validated against the source's mtime, so changing it would make every
 * import recompile.
 */
function entrySpec(entry: PlannedEntry, fs: IndexImageFs, epoch: number): TarEntrySpec {
  const r = entry.record;
  const base = { path: entry.path.slice(1), mode: r.mode, uid: r.uid, gid: r.gid, mtime: isPythonSource(entry.path) ? r.mtime : epoch };
  if (entry.hardlinkTo) return { ...base, type: 'hardlink', linkTarget: entry.hardlinkTo.slice(1) };
  if (r.type === 'directory') return { ...base, type: 'directory' };
  if (r.type === 'symlink') return { ...base, type: 'symlink', linkTarget: r.linkTarget ?? '' };
  const contentFile = fs.contentFile(entry.path);
  if (!contentFile) throw new SlimError(`no content was read for ${entry.path}`);
  return { ...base, type: 'file', contentFile };
}

export function sourceDateEpoch(): number {
  const value = process.env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === '') return 0;
  // tar's classic mtime field (and tar-stream) ends in January 2038
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n > 2 ** 31 - 1) throw usageError(`SOURCE_DATE_EPOCH=${value} is not a whole number of seconds before 2038`);
  return n;
}

async function originalCompressedBytes(prepared: Awaited<ReturnType<typeof prepareImage>>): Promise<number> {
  let total = 0;
  for (const layer of prepared.image.layers) total += await gzipSize(openLayerTar(layer));
  return total;
}

/** analyze (trace) → plan → write → load → verify → tag/outputs. */
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
  let slimId: string | undefined;
  // an untagged slim image (verification failed, file outputs only, Ctrl-C) does not outlive the build
  const removeUntaggedSlim = onCleanup(async () => {
    if (slimId) await removeIfUntagged(slimId);
  });
  try {
    const { image, index } = prepared;
    const fs = prepared.fs!;
    if (tag && (image.repoTags.includes(tag) || tag === reference)) throw usageError(`--tag ${tag} names the original image; slim never retags it`);
    log('tracing a run of the recording');
    const traced = await traceImage(image, index, fs, recording, { ...options, allSyscalls: options.seccompOut !== undefined });
    const seccomp = options.seccompOut === undefined ? undefined : seccompProfile(Object.keys(traced.profile.syscalls));
    const plan: Plan = planLayers(traced.closure.keep.paths(), index, fs, {
      owners: traced.owners,
      workingDir: image.config.config?.WorkingDir || '/',
      baseLayers: options.baseLayers,
      overrides: options.groups,
    });

    log('writing layers');
    const layers: NewLayer[] = [];
    for (const [i, layer] of plan.layers.entries()) {
      const specs = layer.entries.map((e) => entrySpec(e, fs, epoch));
      const written = await writeLayer(specs, join(work.path, `${i}.tar`), join(work.path, `${i}.tar.gz`)).catch((err: unknown) => {
        throw writeFailure(err, `the ${layer.group} layer in ${work.path}`);
      });
      layers.push({ written, createdBy: `slim build: ${GROUP_TITLES[layer.group]}`, comment: `${layer.files} files, ${layer.bytes} bytes kept from ${image.id}` });
    }
    const assembled = assembleImage(JSON.parse(image.rawConfig.toString()) as Record<string, unknown>, layers, {
      'io.slim.source-image': image.id,
      'io.slim.version': VERSION,
    });

    log('loading the slim image into the engine');
    slimId = await loadIntoEngine(assembled, []);
    const compressing = originalCompressedBytes(prepared);
    // awaited below; a failure before that (a failed output write) must not leave it unhandled
    compressing.catch(() => undefined);
    let verification: VerifyResult | undefined;
    if (options.verify) {
      log('verifying: replaying the recording against the original and the slim image');
      verification = await verifyImages(image.id, slimId, recording, { slimSeccomp: seccomp && JSON.stringify(seccomp.profile) });
      if (!verification.ok) {
        // the image or the profile: without the profile, does the slim image answer like the original?
        const profileOnly = seccomp !== undefined && (await verifyImages(image.id, slimId, recording)).ok;
        const removed = await removeIfUntagged(slimId);
        await compressing.catch(() => undefined);
        const kept = removed ? 'the slim image was removed and no tag was created' : `no tag was created (image ${slimId} is kept: other tags point at it)`;
        if (profileOnly) {
          throw new SlimError(
            `verification failed under the seccomp profile only: without it the slim image answers as the original does, so the run needed a syscall the traced run did not make\n${verification.report}${kept}, and no profile was written`,
            ExitCode.runtime,
            'build again (a syscall made only on some runs may show in the next trace), or build without --seccomp-out',
          );
        }
        throw new SlimError(`verification failed: the slim image answers differently from the original\n${verification.report}${kept}`);
      }
    }
    if (tag) await retag(slimId, tag);
    for (const output of options.outputs) {
      log(`writing ${output.kind}:${output.path}`);
      try {
        if (output.kind === 'docker-archive') await writeDockerArchiveFile(assembled, tag ? [tag] : [], output.path);
        else {
          await mkdir(output.path, { recursive: true });
          await writeOciLayout(assembled, output.path, tag ? tag.slice(tag.lastIndexOf(':') + 1) : undefined);
        }
      } catch (err) {
        throw writeFailure(err, `${output.kind}:${output.path}`);
      }
    }
    if (seccomp && options.seccompOut !== undefined) await writeSeccompFile(options.seccompOut, renderSeccompProfile(seccomp.profile));
    if (options.profileOut) {
      const document = { ...profileDocument(traced, index, { reference: image.reference, id: image.id }, options.recordingFile), groups: groupsOf(plan) };
      await writeFile(options.profileOut, `${JSON.stringify(document, null, 2)}\n`).catch((err: NodeJS.ErrnoException) => {
        throw new SlimError(`cannot write the profile to ${options.profileOut}: ${err.code ?? String(err)}`);
      });
    }
    const compressedBytes = await compressing;
    const fileBytes = plan.layers.reduce((s, l) => s + l.bytes, 0);
    const tracedFloorBytes = traced.usage.tracedBytes;
    return {
      schemaVersion: 1,
      original: {
        reference,
        id: image.id,
        visibleBytes: traced.usage.visibleBytes,
        layerBytes: prepared.listings.reduce((s, l) => s + l.bytes, 0),
        compressedBytes,
        layers: image.layers.length,
      },
      slim: {
        id: slimId,
        tag: tag ?? null,
        outputs: options.outputs.map((o) => `${o.kind}:${o.path}`),
        fileBytes,
        tarBytes: layers.reduce((s, l) => s + l.written.tar.size, 0),
        compressedBytes: layers.reduce((s, l) => s + l.written.gzip.size, 0),
        files: plan.layers.reduce((s, l) => s + l.files, 0),
        layers: plan.layers.map((l, i) => ({
          group: l.group,
          title: GROUP_TITLES[l.group],
          files: l.files,
          bytes: l.bytes,
          tarBytes: layers[i]!.written.tar.size,
          compressedBytes: layers[i]!.written.gzip.size,
          diffId: layers[i]!.written.tar.digest,
          digest: layers[i]!.written.gzip.digest,
        })),
      },
      tracedFloorBytes,
      floorRatio: tracedFloorBytes > 0 ? fileBytes / tracedFloorBytes : 0,
      verification: verification
        ? { verified: true, ok: verification.ok, requests: verification.requests.length, differing: verification.requests.filter((r) => r.differences.length).length, report: verification.report }
        : { verified: false, ok: null, requests: 0, differing: 0, report: null },
      seccomp: seccomp && options.seccompOut !== undefined ? { file: options.seccompOut, syscalls: seccomp.names.length } : null,
      attackSurface: {
        original: attackSurface(index.records()),
        slim: attackSurface([...plan.entries.values()].map((e) => ({ path: e.path, type: e.hardlinkTo ? 'hardlink' : e.record.type, mode: e.record.mode }))),
      },
      warnings: [...traced.closure.warnings, ...plan.skipped.map((s) => `not written: ${s}`), ...(seccomp?.warnings ?? [])],
    };
  } finally {
    await removeUntaggedSlim();
    await work.remove();
    await prepared.close();
  }
}

/**
 * Points the slim tag at the new image. A previous slim build the tag pointed at (one carrying slim's
 * label) is removed when no tag refers to it any more, so rebuilding does not pile up dangling images.
 */
async function retag(slimId: string, tag: string): Promise<void> {
  const engine = await requireEngine();
  const previous = await engine.getImage(tag).inspect().catch(() => undefined);
  await tagImage(slimId, tag);
  if (previous && previous.Id !== slimId && previous.Config?.Labels?.['io.slim.version']) await removeIfUntagged(previous.Id);
}

function groupsOf(plan: Plan): Array<{ path: string; group: LayerGroup; rule: string }> {
  return [...plan.entries.values()].sort((a, b) => (a.path < b.path ? -1 : 1)).map((e) => ({ path: e.path, group: e.group, rule: e.rule }));
}
