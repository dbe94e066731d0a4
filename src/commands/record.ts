import { writeFile } from 'node:fs/promises';
import { onInterrupt } from '../cleanup.js';
import { FunctionContainer } from '../docker/function-container.js';
import { SlimError } from '../errors.js';
import { recordingFromExchanges } from '../recording/capture.js';
import { LambdaInvokeProxy } from '../recording/lambda-invoke-proxy.js';
import { LAMBDA_DEFAULTS, LAMBDA_INVOKE_PATH, parseRecording } from '../recording/parse.js';
import { RecordingProxy } from '../recording/proxy.js';
import type { Platform, Recording } from '../recording/types.js';

export interface RecordOptions {
  output: string;
  platform: Platform;
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

/** How the function starts while it is recorded: the platform's contract, no steps yet. */
function startupRecording(options: RecordOptions): Recording {
  const base = { version: 1 as const, platform: options.platform, env: {}, requests: [], rerunOriginal: false };
  if (options.platform === 'lambda') {
    return { ...base, lambda: LAMBDA_DEFAULTS, port: options.port, portEnv: [], readiness: { kind: 'runtime-api', timeoutMs: options.readyTimeoutMs } };
  }
  return { ...base, port: options.port, portEnv: options.portEnv, readiness: { kind: 'http', method: 'GET', path: options.readyPath, timeoutMs: options.readyTimeoutMs } };
}

/**
 * Starts the function and a recording proxy in front of it; every request sent to the proxy until
 * Ctrl-C (or --duration) is forwarded, answered, and written to the recording file. On Lambda the
 * proxy is the emulator's invoke endpoint and each event goes through slim's Runtime API.
 */
export async function recordSession(image: string, options: RecordOptions): Promise<{ requests: number; file: string }> {
  const startup = startupRecording(options);
  const container = await FunctionContainer.start({ image, recording: startup, purpose: 'record' });
  const proxy =
    options.platform === 'lambda'
      ? new LambdaInvokeProxy((r) => container.send(r), LAMBDA_DEFAULTS.timeoutS * 1000)
      : new RecordingProxy(container.hostPort);
  try {
    await container.waitReady();
    let port: number;
    try {
      port = await proxy.listen(options.listenPort);
    } catch (err) {
      throw new SlimError(`cannot listen on 127.0.0.1:${options.listenPort}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 1, 'pick another --listen-port, or 0 for any free port');
    }
    const where = options.platform === 'lambda' ? `events with POST http://127.0.0.1:${port}${LAMBDA_INVOKE_PATH}` : `requests to http://127.0.0.1:${port}/`;
    options.log(`recording: send ${where} ${options.durationS ? `for ${options.durationS} s ` : ''}(Ctrl-C to finish)`);
    await new Promise<void>((resolve) => {
      const timer = options.durationS ? setTimeout(resolve, options.durationS * 1000) : undefined;
      onInterrupt(() => {
        if (timer) clearTimeout(timer);
        resolve();
      });
    });
    await proxy.close();
    if (proxy.exchanges.length === 0) throw new SlimError('no request reached the proxy: nothing to record', 1, `send requests to the address printed above`);
    const file = recordingFromExchanges(proxy.exchanges, { platform: options.platform, port: options.port, portEnv: options.portEnv });
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
