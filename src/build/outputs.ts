import { writeFailure } from '../errors.js';
import { parseSinkTarget, type SinkOptions, type SinkTarget } from '../image/sinks/index.js';
import type { Image } from '../image/types.js';

export type BuildOutput = SinkTarget;

export const parseOutput = parseSinkTarget;

export function describeOutput(output: BuildOutput): string {
  return output.text;
}

export async function checkOutput(output: BuildOutput): Promise<void> {
  await output.sink.check(output.destination);
}

/** Writes the image to its sink; a failed write removes the partial output. */
export async function writeOutput(image: Image, output: BuildOutput, options: SinkOptions): Promise<void> {
  try {
    await output.sink.write(image, output.destination, options);
  } catch (err) {
    throw writeFailure(err, describeOutput(output));
  }
}
