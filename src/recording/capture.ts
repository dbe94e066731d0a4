import type { Platform } from './types.js';

/** One request and its response, as the recording proxy saw them. */
export interface Exchange {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  status: number;
  responseHeaders: Record<string, string>;
  responseBody: Buffer;
}

const HOP_BY_HOP = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'content-length', 'expect']);

function isJson(contentType: string | undefined): boolean {
  return /^application\/([a-z0-9.+-]*\+)?json\b/i.test(contentType ?? '');
}

type Body = { json: unknown } | { text: string } | { base64: string } | Record<string, never>;

/** The most readable exact form of a body: JSON when it round-trips byte for byte, text when it is UTF-8, else base64. */
export function bodyField(body: Buffer, contentType: string | undefined): Body {
  if (body.length === 0) return {};
  const text = body.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(body)) {
    if (isJson(contentType)) {
      try {
        const json: unknown = JSON.parse(text);
        if (JSON.stringify(json) === text) return { json };
      } catch {
        // not JSON after all: keep the text
      }
    }
    return { text };
  }
  return { base64: body.toString('base64') };
}

/**
 * Turns captured exchanges into a recording file (the JSON format `loadRecording` reads). Requests are
 * replayed exactly as sent, minus hop-by-hop headers; the status seen becomes the expected status, and
 * a GET that answered 2xx becomes the readiness check. On Lambda each exchange is one event.
 */
export function recordingFromExchanges(exchanges: Exchange[], options: { platform?: Platform; port: number; portEnv: string[] }): Record<string, unknown> {
  const platform = options.platform ?? 'http';
  if (platform === 'lambda') {
    return { version: 1, platform, steps: exchanges.map((e) => ({ invoke: bodyField(e.body, e.headers['content-type']) })) };
  }
  const readinessPath = exchanges.find((e) => e.method === 'GET' && e.status >= 200 && e.status < 300)?.path ?? '/';
  return {
    version: 1,
    ...(platform === 'http' ? {} : { platform }),
    port: options.port,
    portEnv: options.portEnv,
    readiness: { http: readinessPath, timeoutMs: 60000 },
    steps: exchanges.map((e) => {
      const headers = Object.fromEntries(Object.entries(e.headers).filter(([k]) => !HOP_BY_HOP.has(k.toLowerCase())));
      return {
        request: {
          method: e.method,
          path: e.path,
          ...(Object.keys(headers).length ? { headers } : {}),
          ...bodyField(e.body, e.headers['content-type']),
          expectStatus: e.status,
        },
      };
    }),
  };
}
