import { loadRecording } from '../recording/parse.js';
import { readSeccompFile } from '../security/seccomp.js';
import { requireEngineReference } from '../trace/engine-image.js';
import { verifyImages, type VerifyResult } from '../verify/verify.js';

/**
 * Replays the recording against both images and compares; the CLI exits 1 when they differ. With
 * `seccompFile`, the slim image (only it) runs under that seccomp profile.
 */
export async function verifyCommand(original: string, slim: string, recordingFile: string, options: { seccompFile?: string } = {}): Promise<VerifyResult> {
  const recording = await loadRecording(recordingFile);
  const slimSeccomp = options.seccompFile === undefined ? undefined : await readSeccompFile(options.seccompFile);
  await requireEngineReference(original);
  await requireEngineReference(slim);
  return verifyImages(original, slim, recording, { slimSeccomp });
}
