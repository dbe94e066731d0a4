import type { VerificationFailure } from '../build/verify-slim.js';
import { ExitCode, SlimError } from '../errors.js';
import { missingClassIn } from './missing-class.js';

/**
 * A failed verification of a jlink'd runtime that a missing class explains: the error names it, and
 * says how to link its module. Undefined when no class or module is named (the ordinary error applies).
 */
export function jlinkVerificationError(failure: VerificationFailure, whatBecameOfIt: string): SlimError | undefined {
  const texts = [failure.result.slimFailure ?? '', ...failure.result.requests.flatMap((r) => r.differences.map((d) => d.slim ?? ''))];
  const missing = missingClassIn(texts);
  if (!missing) return undefined;
  return new SlimError(
    `verification failed: the jlink'd Java runtime lacks ${missing.startsWith('module ') ? missing : `class ${missing}`}, which the class-load run did not load\n${failure.result.report}${whatBecameOfIt}`,
    ExitCode.runtime,
    `link its module too with --jvm-add-modules MODULE (\`java --describe-module\` or \`jdeps\` in the original names it), or cover that path in the recording`,
  );
}
