import { randomUUID } from 'node:crypto';
import { SlimError } from '../errors.js';
import { sendHttp, type HttpResponse } from '../recording/http-client.js';
import type { Platform, RecordedRequest, Recording } from '../recording/types.js';
import { describeLambdaError, LAMBDA_REQUEST_ID_HEADER, LambdaInvocationError, LambdaRuntimeApi, type LambdaSettings } from './lambda-runtime-api.js';

/** A function's process as an endpoint sees it, on whichever node runs it. */
export interface RunningFunction {
  /** where an HTTP function listens on 127.0.0.1 */
  port: number;
  /** the exit code once the process has ended (negative when the node does not tell) */
  exited(): Promise<{ code: number } | undefined>;
}

const exitedWith = (exit: { code: number }) => (exit.code < 0 ? 'the function exited' : `the function exited with code ${exit.code}`);

/**
 * How slim talks to a function under one platform's contract: the environment its container needs,
 * when it counts as ready, and how one recorded step reaches it. HTTP platforms call the function;
 * on Lambda the function calls slim's Runtime API.
 */
export interface FunctionEndpoint {
  /** the function must share the host's network (it calls back to slim on 127.0.0.1) */
  readonly needsHostNetwork: boolean;
  /** environment for the function's container; `cmd` is the image's CMD (Lambda's handler) */
  environment(cmd: string[]): Record<string, string>;
  /** true when the function is ready for its first step; throws when it can never be */
  isReady(fn: RunningFunction): Promise<boolean>;
  /** one step and the function's answer, as an HTTP response (Lambda: its payload) */
  send(request: RecordedRequest, fn: RunningFunction): Promise<HttpResponse>;
  /** the first successful answer to `request`, retrying while the function starts; fails at `deadline` (epoch ms) */
  firstAnswer(request: RecordedRequest, fn: RunningFunction, deadline: number): Promise<HttpResponse>;
  close(): Promise<void>;
}

const RETRY_MS = 10;
const EXIT_POLL_MS = 50;

class HttpEndpoint implements FunctionEndpoint {
  readonly needsHostNetwork = false;

  constructor(private readonly recording: Recording) {}

  environment(): Record<string, string> {
    return {};
  }

  async isReady(fn: RunningFunction): Promise<boolean> {
    const readiness = this.recording.readiness;
    if (readiness.kind !== 'http') return false;
    return sendHttp('127.0.0.1', fn.port, { method: readiness.method, path: readiness.path, headers: {}, body: Buffer.alloc(0), timeoutMs: 1000 }).then(
      () => true,
      () => false,
    );
  }

  send(request: RecordedRequest, fn: RunningFunction): Promise<HttpResponse> {
    return sendHttp('127.0.0.1', fn.port, request);
  }

  /** The expected status, or any status below 500 when the recording expects none. */
  async firstAnswer(request: RecordedRequest, fn: RunningFunction, deadline: number): Promise<HttpResponse> {
    for (;;) {
      const response = await sendHttp('127.0.0.1', fn.port, { ...request, timeoutMs: Math.max(request.timeoutMs, 1000) }).catch(() => undefined);
      if (response && (request.expectStatus !== undefined ? response.status === request.expectStatus : response.status < 500)) return response;
      const exit = await fn.exited();
      if (exit) throw new SlimError(`${exitedWith(exit)} before answering "${request.name}"`);
      if (Date.now() > deadline) throw new SlimError(`the function did not answer "${request.name}" in time`);
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }

  async close(): Promise<void> {}
}

class LambdaEndpoint implements FunctionEndpoint {
  readonly needsHostNetwork = true;

  constructor(private readonly api: LambdaRuntimeApi) {}

  environment(cmd: string[]): Record<string, string> {
    const s = this.api.settings;
    return {
      AWS_LAMBDA_RUNTIME_API: this.api.address,
      AWS_LAMBDA_FUNCTION_NAME: s.functionName,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(s.memoryMB),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${s.functionName}`,
      AWS_LAMBDA_LOG_STREAM_NAME: 'slim',
      AWS_REGION: s.region,
      AWS_DEFAULT_REGION: s.region,
      _HANDLER: s.handler ?? cmd[0] ?? '',
    };
  }

  async isReady(): Promise<boolean> {
    const initError = this.api.reportedInitError;
    if (initError) throw new LambdaInvocationError(`the function reported an init error to the Runtime API: ${initError}`);
    return this.api.polled;
  }

  send(request: RecordedRequest, fn: RunningFunction): Promise<HttpResponse> {
    return this.invokeWatching(request, fn, request.timeoutMs);
  }

  /**
   * The event waits in the Runtime API until the function's first poll, so one send is enough; a
   * function error is no answer, as a 5xx is none for an HTTP function.
   */
  async firstAnswer(request: RecordedRequest, fn: RunningFunction, deadline: number): Promise<HttpResponse> {
    const response = await this.invokeWatching(request, fn, Math.max(deadline - Date.now(), 1));
    if (response.headers['x-amz-function-error']) {
      throw new SlimError(`the function answered "${request.name}" with a function error: ${describeLambdaError(response.body, response.headers['x-amz-function-error'])}`);
    }
    return response;
  }

  close(): Promise<void> {
    return this.api.close();
  }

  /**
   * Invokes and, while the event is pending, watches the process: an exit fails the event at once
   * instead of waiting for its deadline. The function must take the event within `deliverWithinMs`.
   */
  private async invokeWatching(request: RecordedRequest, fn: RunningFunction, deliverWithinMs: number): Promise<HttpResponse> {
    const started = process.hrtime.bigint();
    const requestId = request.headers[LAMBDA_REQUEST_ID_HEADER] ?? randomUUID();
    let pending = true;
    const watch = (async () => {
      while (pending) {
        await new Promise((r) => setTimeout(r, EXIT_POLL_MS));
        if (!pending) return;
        const exit = await fn.exited().catch(() => undefined);
        if (exit) this.api.abort(new LambdaInvocationError(`${exitedWith(exit)} during "${request.name}"`));
      }
    })();
    try {
      const result = await this.api.invoke(request.body, requestId, request.timeoutMs, deliverWithinMs);
      const headers: Record<string, string> =
        result.kind === 'response' ? { 'content-type': result.contentType } : { 'content-type': 'application/json', 'x-amz-function-error': result.errorType };
      return { status: 200, headers, body: result.payload, elapsedMs: Number(process.hrtime.bigint() - started) / 1e6 };
    } finally {
      pending = false;
      await watch;
    }
  }
}

function lambdaSettings(recording: Recording): LambdaSettings {
  if (!recording.lambda) throw new Error('a recording on platform lambda has no lambda settings');
  return recording.lambda;
}

const ENDPOINTS: Record<Platform, (recording: Recording) => Promise<FunctionEndpoint>> = {
  http: async (r) => new HttpEndpoint(r),
  fc: async (r) => new HttpEndpoint(r),
  cloudrun: async (r) => new HttpEndpoint(r),
  lambda: async (r) => new LambdaEndpoint(await LambdaRuntimeApi.start(lambdaSettings(r))),
};

/** The endpoint for the recording's platform; close it when the function is gone. */
export function openEndpoint(recording: Recording): Promise<FunctionEndpoint> {
  return ENDPOINTS[recording.platform](recording);
}
