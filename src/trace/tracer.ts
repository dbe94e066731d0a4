import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../cleanup.js';
import { requireEngine } from '../docker/engine.js';
import { FunctionContainer } from '../docker/function-container.js';
import { SlimError } from '../errors.js';
import type { ReplayedRequest } from '../recording/replay.js';
import type { Recording } from '../recording/types.js';
import { explainPtraceRefusal, ptraceRefusal } from './ptrace-refusal.js';
import { findSensor, sensorBinds, sensorCommand, TRACE_FILE, type SensorOptions } from './sensor.js';

export interface TraceRun {
  /** strace's output, one syscall per line */
  traceText: string;
  /** the command as the image (and recording) define it, before the sensor wrapped it */
  argv: string[];
  /** epoch milliseconds: container started, function ready */
  containerStartedAt: number;
  readyAt: number;
  replayed: ReplayedRequest[];
  logs: string;
}

/**
 * Runs the function under the sensor in a throwaway container, waits until it is ready, replays the
 * recording, stops it, and returns the raw trace. The container and the trace directory are removed
 * whatever happens.
 */
export async function traceFunction(image: string, recording: Recording, options: SensorOptions & { signal?: AbortSignal } = {}): Promise<TraceRun> {
  const sensor = await findSensor();
  const out = await makeTempDir('trace');
  // the traced process keeps the image's USER, which must be able to write the trace
  await chmod(out.path, 0o1777);
  let container: FunctionContainer | undefined;
  let onAbort: (() => void) | undefined;
  try {
    container = await FunctionContainer.start({
      image,
      recording,
      purpose: 'trace',
      wrap: (argv) => ({ entrypoint: sensorCommand(sensor, argv, options), binds: sensorBinds(sensor, out.path), capAdd: ['SYS_PTRACE'] }),
    });
    // a build that failed meanwhile removes the container, so waiting and replaying end at once
    const running = container;
    onAbort = () => void running.remove().catch(() => undefined);
    if (options.signal?.aborted) throw new SlimError('the traced run was stopped');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const containerStartedAt = container.startedAt;
    try {
      await container.waitReady();
    } catch (err) {
      const refused = ptraceRefusal(await container.logs(50).catch(() => ''));
      if (refused) throw await explainPtraceRefusal(await requireEngine(), refused);
      throw err;
    }
    const readyAt = Date.now();
    const replayed = await container.replay();
    await container.stop();
    const logs = await container.logs(200);
    let traceText: string;
    try {
      traceText = await readFile(join(out.path, TRACE_FILE), 'utf8');
    } catch {
      throw new SlimError(`the sensor wrote no trace; container logs:\n${logs}`);
    }
    return { traceText, argv: container.argv, containerStartedAt, readyAt, replayed, logs };
  } finally {
    if (onAbort) options.signal?.removeEventListener('abort', onAbort);
    await container?.remove();
    await out.remove();
  }
}
