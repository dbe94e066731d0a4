import { request as httpRequest } from 'node:http';

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** milliseconds from sending the request to the last byte of the response */
  elapsedMs: number;
}

export interface HttpRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  timeoutMs: number;
}

export class HttpTimeoutError extends Error {}

/** One HTTP request to 127.0.0.1, no proxy, no keep-alive, lenient about bare-LF line ends; rejects after `timeoutMs` without an answer. */
export function sendHttp(host: string, port: number, req: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const outgoing = httpRequest(
      {
        host,
        port,
        method: req.method,
        path: req.path,
        headers: { ...req.headers, 'content-length': String(req.body.length), connection: 'close' },
        agent: false,
        // accept header lines ending in a bare LF (busybox httpd CGI, hand-written servers), as curl and the
        // platforms' gateways do; the headers and body compared are still exactly what the function sent
        insecureHTTPParser: true,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) {
            if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
          }
          resolve({
            status: res.statusCode ?? 0,
            headers,
            body: Buffer.concat(chunks),
            elapsedMs: Number(process.hrtime.bigint() - started) / 1e6,
          });
        });
      },
    );
    const timer = setTimeout(() => {
      outgoing.destroy(new HttpTimeoutError(`no answer within ${req.timeoutMs} ms`));
    }, req.timeoutMs);
    outgoing.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    outgoing.end(req.body);
  });
}

/** Sends every request to 127.0.0.1:port: how replay reaches an HTTP function. */
export function httpTo(port: number): (req: HttpRequest) => Promise<HttpResponse> {
  return (req) => sendHttp('127.0.0.1', port, req);
}
