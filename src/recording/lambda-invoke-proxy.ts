import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { LAMBDA_REQUEST_ID_HEADER } from '../platform/lambda-runtime-api.js';
import type { Exchange } from './capture.js';
import type { HttpResponse } from './http-client.js';
import { closeServer, listenLocal, readBody } from './local-server.js';
import { LAMBDA_INVOKE_PATH } from './parse.js';
import type { StepSender } from './replay.js';
import type { CompareRules } from './types.js';

const NO_COMPARE: CompareRules = { headers: [], ignoreHeaders: [], body: 'bytes', ignoreJsonFields: [] };

/**
 * The invoke endpoint of AWS's Runtime Interface Emulator, `POST /2015-03-31/functions/function/invocations`,
 * on 127.0.0.1: each event sent to it goes to the function through `send` (slim's Runtime API), its
 * result comes back as the emulator answers (200, with `X-Amz-Function-Error` for a function error),
 * and the exchange is kept for the recording.
 */
export class LambdaInvokeProxy {
  readonly exchanges: Exchange[] = [];
  private server?: Server;
  private received = 0;

  constructor(
    private readonly send: StepSender,
    private readonly timeoutMs: number,
  ) {}

  listen(port: number): Promise<number> {
    const server = createServer((req, res) => {
      void (async () => {
        const body = await readBody(req).catch(() => undefined);
        if (!body) return; // the client went away mid-request
        const path = (req.url ?? '/').split('?')[0];
        if (req.method !== 'POST' || path !== LAMBDA_INVOKE_PATH) {
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end(`slim record: a Lambda function is invoked with POST ${LAMBDA_INVOKE_PATH}\n`);
          return;
        }
        const n = ++this.received;
        let answer: HttpResponse;
        try {
          answer = await this.send({
            name: `invoke #${n}`,
            method: 'POST',
            path: LAMBDA_INVOKE_PATH,
            headers: { 'content-type': 'application/json', [LAMBDA_REQUEST_ID_HEADER]: randomUUID() },
            body,
            timeoutMs: this.timeoutMs,
            compare: NO_COMPARE,
          });
        } catch (err) {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(`slim record: the function did not answer: ${(err as Error).message}\n`);
          return;
        }
        this.exchanges.push({
          method: 'POST',
          path: LAMBDA_INVOKE_PATH,
          headers: { 'content-type': String(req.headers['content-type'] ?? 'application/json') },
          body,
          status: answer.status,
          responseHeaders: answer.headers,
          responseBody: answer.body,
        });
        res.writeHead(answer.status, { ...answer.headers, 'content-length': String(answer.body.length) });
        res.end(answer.body);
      })();
    });
    this.server = server;
    return listenLocal(server, port);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}
