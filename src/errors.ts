/** Exit codes slim documents in the README. */
export const ExitCode = {
  ok: 0,
  /** a runtime failure: a step that should have worked did not (also a failed verification) */
  runtime: 1,
  /** the command line itself is wrong */
  usage: 2,
  /** the input is wrong: missing or malformed image, archive, recording */
  input: 3,
  /** the environment is wrong: Docker engine unreachable, a required tool missing */
  environment: 4,
  /** interrupted by SIGINT/SIGTERM after cleaning up */
  interrupted: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * An error slim reports to the user as one line (plus an optional hint on what to do),
 * never as a stack trace.
 */
export class SlimError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.runtime,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'SlimError';
  }
}

export function inputError(message: string, hint?: string): SlimError {
  return new SlimError(message, ExitCode.input, hint);
}

export function environmentError(message: string, hint?: string): SlimError {
  return new SlimError(message, ExitCode.environment, hint);
}

export function usageError(message: string, hint?: string): SlimError {
  return new SlimError(message, ExitCode.usage, hint);
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

const WRITE_ERRORS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'the directory does not exist',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a parent is not a directory',
};

/** A failed write (disk full, no permission) as a one-line error; other errors pass through. */
export function writeFailure(err: unknown, what: string): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (!code || !(code in WRITE_ERRORS)) return err;
  return new SlimError(`cannot write ${what}: ${WRITE_ERRORS[code]} (${code})`, code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR' ? ExitCode.usage : ExitCode.runtime);
}

/** A full or unwritable temporary disk as one line saying where, with what to do about it. */
export function spoolFailure(err: unknown, what: string): unknown {
  const failure = writeFailure(err, what);
  if (!(failure instanceof SlimError)) return failure;
  return new SlimError(failure.message, failure.exitCode, 'slim needs free space there as large as the image: free some, or point SLIM_TMPDIR at a larger disk');
}
