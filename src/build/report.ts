import { attackSurface, type AttackSurfaceChange } from '../analyze/attack-surface.js';
import type { FileIndex } from '../image/file-index.js';
import type { NewLayer } from '../image/image-writer.js';
import type { LayerCompression } from '../image/layer-writer.js';
import { GROUP_TITLES, type LayerGroup } from '../plan/grouping.js';
import type { Plan, PlannedEntry } from '../plan/plan.js';
import type { VerifyResult } from '../verify/verify.js';
import type { Timings } from '../timings.js';

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
    /** how its layer blobs are compressed (the original's figure is always gzip -6, to compare like with like) */
    compression: LayerCompression;
    files: number;
    layers: Array<{ group: LayerGroup; title: string; files: number; bytes: number; tarBytes: number; compressedBytes: number; diffId: string; digest: string }>;
  };
  tracedFloorBytes: number;
  /** slim uncompressed content / traced floor */
  floorRatio: number;
  verification: VerificationSummary;
  /** the profile --seccomp-out wrote, and how many syscalls it allows */
  seccomp: { file: string; syscalls: number } | null;
  /** shells, package managers, setuid/setgid binaries and executables in the original and the slim image */
  attackSurface: AttackSurfaceChange;
  /** what --jvm-jlink linked in place of the Java runtime's modules (null without it) */
  jvm: JvmLinkSummary | null;
  warnings: string[];
  /** each phase's wall time */
  timings: Timings;
}

export interface JvmLinkSummary {
  javaHome: string;
  /** the JDK that linked the runtime (Debian package=version) */
  jdk: string;
  /** the root modules given to jlink (the profile says why each is there) */
  modules: string[];
  /** how many modules the linked runtime holds, with those their `requires` pulled in */
  linked: number;
  /** the linked files were taken from the cache of an earlier build with the same JDK, modules and locales */
  fromCache: boolean;
  /** each replaced file's size in the slim image and in the original */
  replaced: Array<{ path: string; bytes: number; originalBytes: number }>;
}

export interface VerificationSummary {
  verified: boolean;
  ok: boolean | null;
  requests: number;
  differing: number;
  report: string | null;
  /** the original's answers: from the build's traced run, or its own run (a difference, or the recording's rerunOriginal) */
  original: 'traced run' | 'own run' | null;
}

export function verificationSummary(result: VerifyResult | undefined): VerificationSummary {
  if (!result) return { verified: false, ok: null, requests: 0, differing: 0, report: null, original: null };
  return { verified: true, ok: result.ok, requests: result.requests.length, differing: result.requests.filter((r) => r.differences.length).length, report: result.report, original: result.original };
}

/** What the original was, as measured while it was read. */
export interface OriginalFigures {
  reference: string;
  id: string;
  visibleBytes: number;
  layerBytes: number;
  compressedBytes: number;
  layers: number;
}

/** The slim image's attack surface next to the original's. */
export function attackSurfaceChange(index: FileIndex, kept: Iterable<PlannedEntry>): AttackSurfaceChange {
  return {
    original: attackSurface(index.records()),
    slim: attackSurface([...kept].map((e) => ({ path: e.path, type: e.hardlinkTo ? 'hardlink' : e.record.type, mode: e.record.mode }))),
  };
}

/** The report of `slim build`: plain data from the steps' values. */
export function buildReport(input: {
  original: OriginalFigures;
  slimId: string;
  tag: string | undefined;
  outputs: string[];
  plan: Plan;
  layers: NewLayer[];
  compression: LayerCompression;
  tracedFloorBytes: number;
  verification: VerifyResult | undefined;
  seccomp: { file: string; syscalls: number } | null;
  attackSurface: AttackSurfaceChange;
  jvm?: JvmLinkSummary;
  warnings: string[];
  timings: Timings;
}): BuildReport {
  const { plan, layers } = input;
  const fileBytes = plan.layers.reduce((s, l) => s + l.bytes, 0);
  return {
    schemaVersion: 1,
    original: input.original,
    slim: {
      id: input.slimId,
      tag: input.tag ?? null,
      outputs: input.outputs,
      fileBytes,
      tarBytes: layers.reduce((s, l) => s + l.written.tar.size, 0),
      compressedBytes: layers.reduce((s, l) => s + l.written.blob.size, 0),
      compression: input.compression,
      files: plan.layers.reduce((s, l) => s + l.files, 0),
      layers: plan.layers.map((l, i) => ({
        group: l.group,
        title: GROUP_TITLES[l.group],
        files: l.files,
        bytes: l.bytes,
        tarBytes: layers[i]!.written.tar.size,
        compressedBytes: layers[i]!.written.blob.size,
        diffId: layers[i]!.written.tar.digest,
        digest: layers[i]!.written.blob.digest,
      })),
    },
    tracedFloorBytes: input.tracedFloorBytes,
    floorRatio: input.tracedFloorBytes > 0 ? fileBytes / input.tracedFloorBytes : 0,
    verification: verificationSummary(input.verification),
    seccomp: input.seccomp,
    attackSurface: input.attackSurface,
    jvm: input.jvm ?? null,
    warnings: input.warnings,
    timings: input.timings,
  };
}
