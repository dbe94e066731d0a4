import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { Exchange } from './capture.js';
import { closeServer, listenLocal, readBody } from './local-server.js';

function flatHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** A reverse proxy on 127.0.0.1 that forwards to the function and keeps every exchange, in order. */
export class RecordingProxy {
  readonly exchanges: Exchange[] = [];
  private server?: Server;

  constructor(private readonly targetPort: number) {}

  listen(port: number): Promise<number> {
    const server = createServer((req, res) => {
      void (async () => {
        const body = await readBody(req);
        const headers = flatHeaders(req.headers);
        // the body is forwarded whole, so framing headers of the client's connection do not apply
        const { 'transfer-encoding': _te, connection: _c, 'keep-alive': _k, ...forwarded } = req.headers;
        const forward = httpRequest(
          {
            host: '127.0.0.1',
            port: this.targetPort,
            method: req.method,
            path: req.url,
            headers: { ...forwarded, host: `127.0.0.1:${this.targetPort}`, 'content-length': String(body.length) },
            agent: false,
            // functions that end header lines with a bare LF are recorded, as curl would talk to them
            insecureHTTPParser: true,
          },
          (upstream) => {
            void readBody(upstream).then((responseBody) => {
              const responseHeaders = flatHeaders(upstream.headers);
              this.exchanges.push({
                method: req.method ?? 'GET',
                path: req.url ?? '/',
                headers,
                body,
                status: upstream.statusCode ?? 0,
                responseHeaders,
                responseBody,
              });
              const { 'transfer-encoding': _te, connection: _c, ...rest } = upstream.headers;
              res.writeHead(upstream.statusCode ?? 502, { ...rest, 'content-length': String(responseBody.length) });
              res.end(responseBody);
            });
          },
        );
        forward.on('error', (err) => {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(`slim record: the function did not answer: ${err.message}\n`);
        });
        forward.end(body);
      })();
    });
    this.server = server;
    return listenLocal(server, port);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}
