import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SlimError } from '../errors.js';
import { closeServer, listenLocal, readBody } from '../recording/local-server.js';

/** The function's identity as Lambda describes it to the runtime (environment and invocation headers). */
export interface LambdaSettings {
  functionName: string;
  memoryMB: number;
  timeoutS: number;
  region: string;
  accountId: string;
  /** `_HANDLER`; when undefined the image's CMD is the handler, as on Lambda */
  handler?: string;
}

/** What the function posted for one event. */
export type InvocationResult =
  | { kind: 'response'; payload: Buffer; contentType: string }
  | { kind: 'error'; payload: Buffer; errorType: string };

export class LambdaInvocationError extends SlimError {}

/** Lambda's header for an event's request id; a recorded Lambda step carries its stable id in it. */
export const LAMBDA_REQUEST_ID_HEADER = 'lambda-runtime-aws-request-id';

const API = '/2018-06-01/runtime';
const INVOCATION = new RegExp(`^${API}/invocation/([^/]+)/(response|error)$`);

interface Invocation {
  requestId: string;
  event: Buffer;
  timeoutMs: number;
  settle: (result: InvocationResult) => void;
  fail: (err: Error) => void;
  deadlineTimer?: NodeJS.Timeout;
  deliveryTimer?: NodeJS.Timeout;
}

function answer(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/** `errorType: errorMessage` of a Lambda error object, or its text when it is not one. */
export function describeLambdaError(payload: Buffer, fallbackType = ''): string {
  try {
    const error = JSON.parse(payload.toString('utf8')) as { errorType?: unknown; errorMessage?: unknown };
    const type = typeof error.errorType === 'string' ? error.errorType : fallbackType;
    const message = typeof error.errorMessage === 'string' ? error.errorMessage : payload.toString('utf8');
    return type ? `${type}: ${message}` : message;
  } catch {
    return [fallbackType, payload.toString('utf8', 0, Math.min(payload.length, 300))].filter(Boolean).join(': ');
  }
}

/**
 * AWS Lambda's Runtime API on 127.0.0.1, for one function process: the runtime long-polls
 * `GET /2018-06-01/runtime/invocation/next`, and posts each event's result to `…/{id}/response` or
 * `…/{id}/error`, or an init failure to `/runtime/init/error`. One event is in flight at a time. Any
 * misuse (an unknown request id, a second post for one id, an init error) fails the event in flight,
 * or the next one, with a message that says what the function did; the deadline bounds every event.
 */
export class LambdaRuntimeApi {
  private readonly queue: Invocation[] = [];
  private inFlight?: Invocation;
  private waitingPoll?: ServerResponse;
  private readonly settled = new Set<string>();
  /** events slim gave up on (deadline, crash): a late result for one is answered and ignored */
  private readonly abandoned = new Set<string>();
  private fault?: Error;
  private pollCount = 0;
  private initError?: string;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly settings: LambdaSettings,
  ) {}

  static async start(settings: LambdaSettings): Promise<LambdaRuntimeApi> {
    let api: LambdaRuntimeApi | undefined;
    const server = createServer((req, res) => void api!.handle(req, res));
    const port = await listenLocal(server, 0);
    api = new LambdaRuntimeApi(server, port, settings);
    return api;
  }

  /** `AWS_LAMBDA_RUNTIME_API` as the function sees it (host networking). */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** True once the function has asked for its first event: Lambda's end of init. */
  get polled(): boolean {
    return this.pollCount > 0;
  }

  /** The init error the function reported, as `errorType: errorMessage`. */
  get reportedInitError(): string | undefined {
    return this.initError;
  }

  get functionArn(): string {
    const { region, accountId, functionName } = this.settings;
    return `arn:aws:lambda:${region}:${accountId}:function:${functionName}`;
  }

  /**
   * Queues one event and resolves with what the function posts for it. The deadline (`timeoutMs`)
   * counts from the moment the function receives the event, as on Lambda; the event fails earlier
   * if the function has not asked for it within `deliverWithinMs`.
   */
  invoke(event: Buffer, requestId: string, timeoutMs: number, deliverWithinMs = timeoutMs): Promise<InvocationResult> {
    return new Promise((resolve, reject) => {
      const fail = (err: Error) => {
        clearTimeout(invocation.deadlineTimer);
        clearTimeout(invocation.deliveryTimer);
        if (this.inFlight === invocation) {
          this.inFlight = undefined;
          this.abandoned.add(requestId);
        }
        const queued = this.queue.indexOf(invocation);
        if (queued >= 0) this.queue.splice(queued, 1);
        reject(err);
      };
      const invocation: Invocation = {
        requestId,
        event,
        timeoutMs,
        settle: (result) => {
          clearTimeout(invocation.deadlineTimer);
          this.inFlight = undefined;
          this.settled.add(requestId);
          resolve(result);
        },
        fail,
      };
      const earlier = this.fault ?? (this.initError ? this.initFailure() : undefined);
      if (earlier) {
        this.fault = undefined;
        return reject(earlier);
      }
      this.queue.push(invocation);
      invocation.deliveryTimer = setTimeout(() => {
        const what = this.polled ? 'did not ask for the next event' : 'never polled the Runtime API';
        invocation.fail(new LambdaInvocationError(`the function ${what} within ${deliverWithinMs} ms, so request ${requestId} was never delivered`));
      }, deliverWithinMs);
      this.deliver();
    });
  }

  /** Fails the event in flight, or the next one queued, with `err` (the function crashed, say). */
  abort(err: Error): void {
    const target = this.inFlight ?? this.queue[0];
    if (target) target.fail(err);
  }

  async close(): Promise<void> {
    const closing = new Error('the Runtime API was closed');
    for (const invocation of [...this.queue, ...(this.inFlight ? [this.inFlight] : [])]) invocation.fail(closing);
    this.waitingPoll?.destroy();
    await closeServer(this.server);
  }

  private initFailure(): LambdaInvocationError {
    return new LambdaInvocationError(`the function reported an init error to the Runtime API: ${this.initError}`);
  }

  /** Hands the next queued event to a waiting poll, and starts its deadline. */
  private deliver(): void {
    if (this.inFlight || !this.waitingPoll || this.queue.length === 0) return;
    const invocation = this.queue.shift()!;
    const res = this.waitingPoll;
    this.waitingPoll = undefined;
    this.inFlight = invocation;
    clearTimeout(invocation.deliveryTimer);
    const deadline = Date.now() + invocation.timeoutMs;
    invocation.deadlineTimer = setTimeout(() => {
      invocation.fail(new LambdaInvocationError(`the function did not post a result for request ${invocation.requestId} within its deadline of ${invocation.timeoutMs} ms`));
    }, invocation.timeoutMs);
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': String(invocation.event.length),
      [LAMBDA_REQUEST_ID_HEADER]: invocation.requestId,
      'lambda-runtime-deadline-ms': String(deadline),
      'lambda-runtime-invoked-function-arn': this.functionArn,
      'lambda-runtime-trace-id': traceId(),
    });
    res.end(invocation.event);
  }

  /** A misuse by the function: the event in flight (or queued) fails now, or else the next one. */
  private misuse(message: string): void {
    const err = new LambdaInvocationError(message);
    const target = this.inFlight ?? this.queue[0];
    if (target) target.fail(err);
    else this.fault = err;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.route(req, res);
    } catch (err) {
      if (!res.headersSent) answer(res, 400, { errorMessage: (err as Error).message, errorType: 'InvalidRequest' });
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      // the runtime went away mid-request: nothing it sent counts; its exit or the deadline fails the event
      return;
    }
    if (req.method === 'GET' && path === `${API}/invocation/next`) {
      this.pollCount += 1;
      if (this.waitingPoll) {
        // a second concurrent poll: the runtime lost track of the first (Lambda allows one)
        answer(this.waitingPoll, 409, { errorMessage: 'superseded by a newer poll', errorType: 'InvalidStateTransition' });
      }
      if (this.inFlight) {
        this.misuse(`the function asked for the next event before it posted a result for request ${this.inFlight.requestId}`);
      }
      this.waitingPoll = res;
      res.on('close', () => {
        if (this.waitingPoll === res) this.waitingPoll = undefined;
      });
      this.deliver();
      return;
    }
    if (req.method === 'POST' && path === `${API}/init/error`) {
      this.initError = describeLambdaError(body, String(req.headers['lambda-runtime-function-error-type'] ?? ''));
      answer(res, 202, { status: 'OK' });
      this.abort(this.initFailure());
      return;
    }
    const match = req.method === 'POST' ? INVOCATION.exec(path) : null;
    if (!match) {
      answer(res, 404, { errorMessage: `slim's Runtime API has no ${req.method} ${path}`, errorType: 'NotFound' });
      return;
    }
    const requestId = decodeURIComponent(match[1]!);
    const kind = match[2] as 'response' | 'error';
    if (this.abandoned.has(requestId)) {
      answer(res, 410, { errorMessage: `request ${requestId} was already given up (deadline passed)`, errorType: 'InvalidStateTransition' });
      return;
    }
    if (this.settled.has(requestId)) {
      answer(res, 400, { errorMessage: `request ${requestId} already has a result`, errorType: 'InvalidStateTransition' });
      this.misuse(`the function posted a second ${kind} for request ${requestId}, which already had a result`);
      return;
    }
    if (this.inFlight?.requestId !== requestId) {
      answer(res, 400, { errorMessage: `unknown request id ${requestId}`, errorType: 'InvalidRequestID' });
      const expected = this.inFlight ? `; the event in flight is ${this.inFlight.requestId}` : '';
      this.misuse(`the function posted a ${kind} for request ${requestId}, which slim never sent${expected}`);
      return;
    }
    answer(res, 202, { status: 'OK' });
    const invocation = this.inFlight;
    if (kind === 'response') {
      invocation.settle({ kind: 'response', payload: body, contentType: String(req.headers['content-type'] ?? 'application/json') });
    } else {
      invocation.settle({ kind: 'error', payload: body, errorType: String(req.headers['lambda-runtime-function-error-type'] ?? 'Unhandled') });
    }
  }
}

/** An X-Ray trace header of the shape Lambda passes: Root=1-<epoch hex>-<96 random bits>;Parent=…;Sampled=0. */
function traceId(): string {
  const epoch = Math.floor(Date.now() / 1000).toString(16).padStart(8, '0');
  return `Root=1-${epoch}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=0`;
}
