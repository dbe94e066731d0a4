import type Docker from 'dockerode';
import { FunctionContainer } from '../docker/function-container.js';
import { SlimError } from '../errors.js';
import type { Recording } from '../recording/types.js';

/**
 * Milliseconds from asking the engine to create the function's container to the first successful
 * answer to the recording's first request (HTTP: the status it expects, or any status below 500;
 * Lambda: the first event's result). The container is removed afterwards. A function that exits or
 * never answers within the readiness timeout is an error that says so.
 */
export async function timeFirstRequest(engine: Docker, image: string, recording: Recording, purpose: string): Promise<number> {
  const first = recording.requests[0]!;
  const container = await FunctionContainer.start({ engine, image, recording, purpose });
  try {
    try {
      await container.firstAnswer(first, container.startedAt + recording.readiness.timeoutMs);
    } catch (err) {
      if (err instanceof SlimError) throw new SlimError(`${image}: ${err.message} (within ${recording.readiness.timeoutMs} ms)\n--- last 50 log lines ---\n${await container.logs(50)}`);
      throw err;
    }
    return Date.now() - container.startedAt;
  } finally {
    await container.remove();
  }
}
