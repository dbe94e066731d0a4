import type { LambdaSettings } from '../platform/lambda-runtime-api.js';

/** What verify compares for one request, and what it leaves out. */
export interface CompareRules {
  /** response headers compared between original and slim (lower case); others are ignored */
  headers: string[];
  /** headers never compared, even if listed above (lower case) */
  ignoreHeaders: string[];
  /** `bytes`: bodies must be identical; `json`: bodies must be JSON-equal after removing ignoreJsonFields */
  body: 'bytes' | 'json';
  /** dotted paths (`a.b`, `items.*.id`) removed from both JSON bodies before comparing */
  ignoreJsonFields: string[];
}

export interface RecordedRequest {
  /** how reports name it: `invoke #2`, `GET /health` */
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /** the status the function must answer with; undefined accepts any */
  expectStatus?: number;
  timeoutMs: number;
  compare: CompareRules;
}

export type Readiness =
  | { kind: 'http'; method: string; path: string; timeoutMs: number }
  | { kind: 'log'; pattern: string; timeoutMs: number }
  /** Lambda: ready at the function's first poll for an event */
  | { kind: 'runtime-api'; timeoutMs: number };

/** Whose contract the function follows: how slim starts it, reaches it and compares its answers. */
export const PLATFORMS = ['http', 'fc', 'cloudrun', 'lambda'] as const;
export type Platform = (typeof PLATFORMS)[number];

/** A recorded run: how to start the function and the requests to replay against it, in order. */
export interface Recording {
  version: 1;
  platform: Platform;
  /** the function's identity on Lambda (platform lambda only) */
  lambda?: LambdaSettings;
  /** the port the function listens on inside the container */
  port: number;
  /** environment variables set to the port (Function Compute passes FC_SERVER_PORT; many apps read PORT) */
  portEnv: string[];
  readiness: Readiness;
  env: Record<string, string>;
  /** replaces the image's ENTRYPOINT when set */
  entrypoint?: string[];
  /** replaces the image's CMD when set */
  command?: string[];
  requests: RecordedRequest[];
  /**
   * build's verification replays the original again instead of taking its answers from the traced run:
   * for a function whose answers differ between two starts in ways the compare rules do not ignore
   */
  rerunOriginal: boolean;
}
