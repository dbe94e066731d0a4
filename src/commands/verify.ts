import { loadRecording } from '../recording/parse.js';
import { requireEngineReference } from '../trace/engine-image.js';
import { verifyImages, type VerifyResult } from '../verify/verify.js';

/** Replays the recording against both images and compares; the CLI exits 1 when they differ. */
export async function verifyCommand(original: string, slim: string, recordingFile: string): Promise<VerifyResult> {
  const recording = await loadRecording(recordingFile);
  await requireEngineReference(original);
  await requireEngineReference(slim);
  return verifyImages(original, slim, recording);
}
