import { inputError } from '../errors.js';

export function parseJson<T>(data: Buffer | string, what: string): T {
  try {
    return JSON.parse(data.toString()) as T;
  } catch (err) {
    throw inputError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}
