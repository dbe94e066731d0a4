import type Docker from 'dockerode';
import { FunctionContainer } from '../docker/function-container.js';
import { SlimError } from '../errors.js';
import { sendHttp } from '../recording/http-client.js';
import type { Recording } from '../recording/types.js';

const POLL_MS = 10;

/**
 * Milliseconds from asking the engine to create the function's container to the first successful
 * answer to the recording's first request (the status it expects, or any status below 500). The
 * container is removed afterwards. A function that exits or never answers within the readiness
 * timeout is an error that says so.
 */
export async function timeFirstRequest(engine: Docker, image: string, recording: Recording, purpose: string): Promise<number> {
  const first = recording.requests[0]!;
  const container = await FunctionContainer.start({ engine, image, recording, purpose });
  try {
    const deadline = container.startedAt + recording.readiness.timeoutMs;
    for (;;) {
      const response = await sendHttp('127.0.0.1', container.hostPort, { ...first, timeoutMs: Math.max(first.timeoutMs, 1000) }).catch(() => undefined);
      if (response && (first.expectStatus !== undefined ? response.status === first.expectStatus : response.status < 500)) {
        return Date.now() - container.startedAt;
      }
      const exit = await container.exited();
      if (exit) throw new SlimError(`${image} exited with code ${exit.code} before answering "${first.name}"\n--- last 50 log lines ---\n${await container.logs(50)}`);
      if (Date.now() > deadline) throw new SlimError(`${image} did not answer "${first.name}" within ${recording.readiness.timeoutMs} ms\n--- last 50 log lines ---\n${await container.logs(50)}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    await container.remove();
  }
}
