import { writeFile } from 'node:fs/promises';
import { onInterrupt } from '../cleanup.js';
import { FunctionContainer } from '../docker/function-container.js';
import { SlimError } from '../errors.js';
import { recordingFromExchanges } from '../recording/capture.js';
import { parseRecording } from '../recording/parse.js';
import { RecordingProxy } from '../recording/proxy.js';
import type { Recording } from '../recording/types.js';

export interface RecordOptions {
  output: string;
  /** seconds to record; until Ctrl-C when undefined */
  durationS?: number;
  /** port the proxy listens on (127.0.0.1); a free one when 0 */
  listenPort: number;
  /** port the function listens on in the container */
  port: number;
  portEnv: string[];
  readyPath: string;
  readyTimeoutMs: number;
  log: (line: string) => void;
}

/**
 * Starts the function and a recording proxy in front of it; every request sent to the proxy until
 * Ctrl-C (or --duration) is forwarded, answered, and written to the recording file.
 */
export async function recordSession(image: string, options: RecordOptions): Promise<{ requests: number; file: string }> {
  const startup: Recording = {
    version: 1,
    port: options.port,
    portEnv: options.portEnv,
    readiness: { kind: 'http', method: 'GET', path: options.readyPath, timeoutMs: options.readyTimeoutMs },
    env: {},
    requests: [],
  };
  const container = await FunctionContainer.start({ image, recording: startup, purpose: 'record' });
  const proxy = new RecordingProxy(container.hostPort);
  try {
    await container.waitReady(startup.readiness);
    let port: number;
    try {
      port = await proxy.listen(options.listenPort);
    } catch (err) {
      throw new SlimError(`cannot listen on 127.0.0.1:${options.listenPort}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 1, 'pick another --listen-port, or 0 for any free port');
    }
    options.log(`recording: send requests to http://127.0.0.1:${port}/ ${options.durationS ? `for ${options.durationS} s` : ''}(Ctrl-C to finish)`);
    await new Promise<void>((resolve) => {
      const timer = options.durationS ? setTimeout(resolve, options.durationS * 1000) : undefined;
      onInterrupt(() => {
        if (timer) clearTimeout(timer);
        resolve();
      });
    });
    await proxy.close();
    if (proxy.exchanges.length === 0) throw new SlimError('no request reached the proxy: nothing to record', 1, `send requests to the address printed above`);
    const file = recordingFromExchanges(proxy.exchanges, { port: options.port, portEnv: options.portEnv });
    await parseRecording(file, options.output); // what we write must load again
    try {
      await writeFile(options.output, `${JSON.stringify(file, null, 2)}\n`);
    } catch (err) {
      throw new SlimError(`cannot write ${options.output}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    return { requests: proxy.exchanges.length, file: options.output };
  } finally {
    await proxy.close();
    await container.remove();
  }
}
