import { SlimError } from '../errors.js';
import { HttpTimeoutError, type HttpResponse } from './http-client.js';
import type { RecordedRequest, Recording } from './types.js';

export interface ReplayedRequest {
  request: RecordedRequest;
  response: HttpResponse;
  /** epoch milliseconds when the request was sent */
  sentAt: number;
}

export class ReplayError extends SlimError {}

/** Delivers one recorded step to the function: over HTTP, or through Lambda's Runtime API. */
export type StepSender = (request: RecordedRequest) => Promise<HttpResponse>;

/**
 * Sends the recording's requests in order through `send`. A request that gets no answer within its
 * timeout, or (unless `checkStatus` is false) answers with another status than the recording
 * expects, stops the replay with an error that names it.
 */
export async function replay(recording: Recording, send: StepSender, options: { checkStatus?: boolean } = {}): Promise<ReplayedRequest[]> {
  const checkStatus = options.checkStatus ?? true;
  const results: ReplayedRequest[] = [];
  for (const request of recording.requests) {
    const sentAt = Date.now();
    let response: HttpResponse;
    try {
      response = await send(request);
    } catch (err) {
      if (err instanceof HttpTimeoutError) {
        throw new ReplayError(`request "${request.name}" (${request.method} ${request.path}) got no answer within ${request.timeoutMs} ms`);
      }
      throw new ReplayError(`request "${request.name}" (${request.method} ${request.path}) failed: ${(err as Error).message}`);
    }
    if (checkStatus && request.expectStatus !== undefined && response.status !== request.expectStatus) {
      const body = response.body.toString('utf8', 0, Math.min(response.body.length, 300));
      throw new ReplayError(
        `request "${request.name}" (${request.method} ${request.path}) answered ${response.status}, the recording expects ${request.expectStatus}: ${body}`,
      );
    }
    results.push({ request, response, sentAt });
  }
  return results;
}
