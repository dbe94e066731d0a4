import { FunctionContainer } from '../docker/function-container.js';
import type { ReplayedRequest } from '../recording/replay.js';
import type { RecordedRequest, Recording } from '../recording/types.js';
import { compareResponses, renderDifferences, type Difference } from './compare.js';

export interface VerifyResult {
  ok: boolean;
  requests: Array<{ request: RecordedRequest; differences: Difference[]; originalMs: number; slimMs: number | null }>;
  /** why the slim image could not be compared at all (it crashed, never became ready, stopped answering) */
  slimFailure?: string;
  report: string;
  /** where the original's answers came from: its own run here, or the build's traced run of it */
  original: 'own run' | 'traced run';
}

export interface VerifyOptions {
  /** run the slim image (only it) under this seccomp profile, given as its JSON text */
  slimSeccomp?: string;
  /**
   * the original's answers to the same recording from a run already made (the build's traced run): the
   * slim image runs alone against them, and only a difference runs the original again to be sure
   */
  originalAnswers?: ReplayedRequest[];
}

async function runAgainst(image: string, recording: Recording, purpose: string, checkStatus: boolean, seccompProfile?: string): Promise<ReplayedRequest[]> {
  const container = await FunctionContainer.start({ image, recording, purpose, seccompProfile });
  try {
    await container.waitReady();
    return await container.replay({ checkStatus, logsOf: image });
  } finally {
    await container.remove();
  }
}

/**
 * Replays the recording against the original and the slim image, each in its own throwaway container
 * on its own port, and compares every response. The original must behave as the recording expects
 * (else the recording is wrong, an error); the slim image must answer exactly as the original did.
 */
export async function verifyImages(original: string, slim: string, recording: Recording, options: VerifyOptions = {}): Promise<VerifyResult> {
  const given = options.originalAnswers;
  if (given && given.length === recording.requests.length && !recording.rerunOriginal) {
    const slimRun = await settle(runAgainst(slim, recording, 'verify-slim', false, options.slimSeccomp));
    const result = compareRuns(slim, given, slimRun, options, 'traced run');
    // a difference may be the original's own, between two starts: only its own run can tell
    if (result.ok) return result;
  }
  const [originalRun, slimRun] = await Promise.allSettled([
    runAgainst(original, recording, 'verify-original', true),
    runAgainst(slim, recording, 'verify-slim', false, options.slimSeccomp),
  ]);
  if (originalRun.status === 'rejected') throw originalRun.reason;
  return compareRuns(slim, originalRun.value, slimRun, options, 'own run');
}

function settle<T>(promise: Promise<T>): Promise<PromiseSettledResult<T>> {
  return promise.then(
    (value) => ({ status: 'fulfilled', value }),
    (reason: unknown) => ({ status: 'rejected', reason }),
  );
}

function compareRuns(
  slim: string,
  originals: ReplayedRequest[],
  slimRun: PromiseSettledResult<ReplayedRequest[]>,
  options: VerifyOptions,
  original: VerifyResult['original'],
): VerifyResult {
  if (slimRun.status === 'rejected') {
    const reason = slimRun.reason instanceof Error ? slimRun.reason.message : String(slimRun.reason);
    return {
      ok: false,
      requests: originals.map((o) => ({ request: o.request, differences: [], originalMs: o.response.elapsedMs, slimMs: null })),
      slimFailure: reason,
      report: `✗ the slim image ${slim} could not be verified${options.slimSeccomp === undefined ? '' : ' under the seccomp profile'}: ${reason}\n`,
      original,
    };
  }
  const requests = originals.map((o, i) => {
    const s = slimRun.value[i]!;
    return { request: o.request, differences: compareResponses(o.request, o.response, s.response), originalMs: o.response.elapsedMs, slimMs: s.response.elapsedMs };
  });
  const ok = requests.every((r) => r.differences.length === 0);
  const under = options.slimSeccomp !== undefined && !ok ? '(the slim image ran under the seccomp profile: a denied syscall fails with EPERM)\n' : '';
  return { ok, requests, report: renderDifferences(requests) + under, original };
}
