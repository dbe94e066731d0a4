import { computeKeepSet, type ClosureResult } from '../closure/closure.js';
import { findExecutable } from '../closure/search-path.js';
import { readDpkgOwnership } from '../analyze/dpkg.js';
import { summarizeUsage, type UsageSummary } from '../analyze/usage.js';
import { effectiveArgv, engineArgv } from '../docker/function-container.js';
import { inputError } from '../errors.js';
import type { FileIndex } from '../image/file-index.js';
import type { ImageFs } from '../image/image-fs.js';
import type { Image, ImageConfigFile } from '../image/types.js';
import type { Recording } from '../recording/types.js';
import { buildProfile, type Profile } from './profile.js';
import { parseStrace } from './strace-parser.js';
import { engineImage, requireEngineReference } from './engine-image.js';
import { traceFunction, type TraceRun } from './tracer.js';

export interface TraceOptions {
  include?: string[];
  exclude?: string[];
  includeExe?: string[];
  /** trace every syscall the function makes (for a seccomp profile), not only the file and process ones */
  allSyscalls?: boolean;
}

/** Milliseconds from the container's start to each step of a cold start, as the trace saw them. */
export interface ColdStartTimeline {
  firstExecMs: number | null;
  listeningMs: number | null;
  readyMs: number;
  firstAcceptMs: number | null;
  firstResponseMs: number | null;
  listenPort: number | null;
}

export interface ImageTrace {
  run: TraceRun;
  profile: Profile;
  closure: ClosureResult;
  usage: UsageSummary;
  timeline: ColdStartTimeline;
  /** Debian package of each dpkg-owned path */
  owners: Map<string, string>;
}

function msSince(start: number, epochSeconds: number | undefined): number | null {
  return epochSeconds === undefined ? null : Math.round(epochSeconds * 1000 - start);
}

/** The platform an image config names, when it is not the linux/amd64 this host runs; else undefined. */
function foreignPlatform(config: Pick<ImageConfigFile, 'os' | 'architecture' | 'variant'>): string | undefined {
  const { os, architecture, variant } = config;
  if ((os === undefined || os === 'linux') && (architecture === undefined || architecture === 'amd64')) return undefined;
  return [os ?? 'linux', architecture ?? 'amd64', variant].filter(Boolean).join('/');
}

/** The tracer runs the image on this linux/amd64 host: another platform fails before any container is made. */
export function requireAmd64(image: Image): void {
  const platform = foreignPlatform(image.config);
  if (platform === undefined) return;
  throw inputError(
    `image ${image.reference} is ${platform}, and tracing runs it: it needs linux/amd64`,
    'use the linux/amd64 variant of the image (slim analyze without --record reads any platform)',
  );
}

/**
 * Runs the image's function under the tracer with the recording, and works out what it needs: the
 * Profile of what it touched, the keep set with the static closure, and how much of the image that is.
 */
/**
 * The traced run alone, started before the image's layers are read: it needs only the engine's image,
 * so it runs while they are spooled and indexed. traceImage takes it as `started`.
 */
export interface StartedTraceRun {
  imageId: string;
  run: Promise<TraceRun>;
  /** ends the run at once (its container is removed) and waits until it has settled */
  stop(): Promise<void>;
}

function startTraceRun(imageId: string, recording: Recording, options: TraceOptions): StartedTraceRun {
  const abort = new AbortController();
  const run = traceFunction(imageId, recording, { allSyscalls: options.allSyscalls, signal: abort.signal });
  // awaited by traceImage, or stopped by the caller when the build fails before that
  run.catch(() => undefined);
  return {
    imageId,
    run,
    async stop() {
      abort.abort();
      await run.catch(() => undefined);
    },
  };
}

/**
 * Starts the traced run from the engine's image before its layers are read, when what the engine says
 * of it passes the checks that need no layer (platform, a command to run); else undefined, and
 * traceImage checks and runs it in turn, so a bad image still fails before any container is made.
 */
export async function startTraceRunEarly(reference: string, recording: Recording, options: TraceOptions = {}): Promise<StartedTraceRun | undefined> {
  const image = await engineImage(reference);
  if (!image || foreignPlatform({ os: image.Os, architecture: image.Architecture, variant: image.Variant }) !== undefined) return undefined;
  if (engineArgv(image.Config ?? {}, recording).length === 0) return undefined;
  return startTraceRun(image.Id, recording, options);
}

export async function traceImage(
  image: Image,
  index: FileIndex,
  fs: ImageFs,
  recording: Recording,
  options: TraceOptions = {},
  started?: StartedTraceRun,
): Promise<ImageTrace> {
  const config = image.config.config ?? {};
  const env = config.Env ?? [];
  const workingDir = config.WorkingDir || '/';
  const argv = effectiveArgv(config, recording);
  try {
    await requireEngineReference(image.reference);
    requireAmd64(image);
    if (argv.length === 0) throw inputError(`image ${image.reference} has no ENTRYPOINT or CMD`, 'give "command" in the recording');
    if (!findExecutable(fs, argv[0]!, env, workingDir)) {
      throw inputError(`the entrypoint ${argv[0]} is not in image ${image.reference} (or is not executable)`, `the command is ${JSON.stringify(argv)}`);
    }
  } catch (err) {
    // the clearer cause wins over whatever the early run hit on a broken image
    await started?.stop();
    throw err;
  }
  // the tag may have moved to another image between the early start and the save
  const early = started?.imageId === image.id ? started : undefined;
  if (started && !early) await started.stop();
  const run = await (early?.run ?? traceFunction(image.id, recording, { allSyscalls: options.allSyscalls }));
  const profile = buildProfile(parseStrace(run.traceText), { initialCwd: workingDir });
  const execs = [...profile.processes.values()].flatMap((p) => p.execs);
  const closure = await computeKeepSet({
    fs,
    allPaths: [...index.records()].map((r) => `/${r.path}`),
    accesses: [...profile.accesses.values()],
    execs,
    env,
    workingDir,
    argv,
    include: options.include,
    exclude: options.exclude,
    includeExe: options.includeExe,
  });
  const owners = await readDpkgOwnership(fs);
  const usage = summarizeUsage(index, closure.keep, owners);
  const t = profile.timeline;
  const timeline: ColdStartTimeline = {
    firstExecMs: msSince(run.containerStartedAt, t.firstExec),
    listeningMs: msSince(run.containerStartedAt, t.listening),
    readyMs: run.readyAt - run.containerStartedAt,
    firstAcceptMs: msSince(run.containerStartedAt, t.firstAccept),
    firstResponseMs: msSince(run.containerStartedAt, t.firstResponse),
    listenPort: t.listenPort ?? null,
  };
  return { run, profile, closure, usage, timeline, owners };
}
