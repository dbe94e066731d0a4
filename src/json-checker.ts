import { inputError } from './errors.js';

type Json = unknown;
type Obj = Record<string, Json>;

/** Validation with errors that name the field, e.g. `steps[2].invoke.json`. */
export class JsonChecker {
  constructor(
    private readonly file: string,
    private readonly hint: string,
  ) {}

  fail(field: string, problem: string): never {
    throw inputError(`${this.file}: ${field} ${problem}`, this.hint);
  }

  object(value: Json, field: string): Obj {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(field, 'must be an object');
    return value as Obj;
  }

  only(value: Obj, field: string, allowed: string[]): void {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.fail(`${field}${field ? '.' : ''}${key}`, `is not a known field (known: ${allowed.join(', ')})`);
    }
  }

  string(value: Json, field: string): string {
    if (typeof value !== 'string') this.fail(field, 'must be a string');
    return value;
  }

  optionalString(value: Json, field: string): string | undefined {
    return value === undefined ? undefined : this.string(value, field);
  }

  int(value: Json, field: string, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail(field, `must be a whole number from ${min} to ${max}`);
    }
    return value;
  }

  optionalBoolean(value: Json, field: string): boolean | undefined {
    if (value !== undefined && typeof value !== 'boolean') this.fail(field, 'must be true or false');
    return value;
  }

  optionalInt(value: Json, field: string, min: number, max: number): number | undefined {
    return value === undefined ? undefined : this.int(value, field, min, max);
  }

  strings(value: Json, field: string): string[] {
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) this.fail(field, 'must be an array of strings');
    return value as string[];
  }

  optionalStrings(value: Json, field: string): string[] | undefined {
    return value === undefined ? undefined : this.strings(value, field);
  }

  stringMap(value: Json, field: string): Record<string, string> {
    const obj = this.object(value, field);
    for (const [k, v] of Object.entries(obj)) if (typeof v !== 'string') this.fail(`${field}.${k}`, 'must be a string');
    return obj as Record<string, string>;
  }
}

