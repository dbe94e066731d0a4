import { ExitCode, SlimError } from '../errors.js';
import type { ReplayedRequest } from '../recording/replay.js';
import type { Recording } from '../recording/types.js';
import { verifyImages, type VerifyResult } from '../verify/verify.js';

/** Why a slim image failed verification, for the caller to report (the image is not tagged). */
export interface VerificationFailure {
  result: VerifyResult;
  /** the slim image answers like the original without the seccomp profile: the profile is the cause */
  profileOnly: boolean;
}

/**
 * Replays the recording against the original and the slim image. When a seccomp profile was given and
 * verification fails, one more replay without it tells whether the image or the profile is the cause.
 */
export async function verifySlim(
  originalId: string,
  slimId: string,
  recording: Recording,
  seccompProfile?: string,
  originalAnswers?: ReplayedRequest[],
): Promise<{ ok: true; result: VerifyResult } | ({ ok: false } & VerificationFailure)> {
  const result = await verifyImages(originalId, slimId, recording, { slimSeccomp: seccompProfile, originalAnswers });
  if (result.ok) return { ok: true, result };
  const profileOnly = seccompProfile !== undefined && (await verifyImages(originalId, slimId, recording, { originalAnswers })).ok;
  return { ok: false, result, profileOnly };
}

/** The one-line error of a failed verification, with the diff and what became of the slim image. */
export function verificationError(failure: VerificationFailure, whatBecameOfIt: string): SlimError {
  if (failure.profileOnly) {
    return new SlimError(
      `verification failed under the seccomp profile only: without it the slim image answers as the original does, so the run needed a syscall the traced run did not make\n${failure.result.report}${whatBecameOfIt}, and no profile was written`,
      ExitCode.runtime,
      'build again (a syscall made only on some runs may show in the next trace), or build without --seccomp-out',
    );
  }
  return new SlimError(`verification failed: the slim image answers differently from the original\n${failure.result.report}${whatBecameOfIt}`);
}
