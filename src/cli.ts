#!/usr/bin/env node
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { runAllCleanups } from './cleanup.js';
import { runAnalyze, type OutputFormat } from './commands/analyze.js';
import { ExitCode, SlimError } from './errors.js';
import { VERSION } from './version.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

function formatOf(options: { json?: boolean; format?: string }): OutputFormat {
  return options.json ? 'json' : ((options.format ?? 'table') as OutputFormat);
}

function buildProgram(): Command {
  const program = new Command('slim')
    .description('Make container images start fast on serverless platforms.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('analyze')
    .description('explain where an image\'s bytes go: layers, wasted bytes, largest paths, kinds of files')
    .argument('<image>', 'a Docker engine reference, docker-archive:PATH[:TAG], oci:PATH[:REF], or a path to an image tar or OCI layout')
    .option('--json', 'print JSON (same as --format json)')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json', 'markdown']).default('table'))
    .option('--top <n>', 'rows in the largest-files/directories and wasted lists', positiveInt, 10)
    .option('--depth <n>', 'deepest directory level listed among the largest directories', positiveInt, 3)
    .action(async (image: string, options: { json?: boolean; format?: string; top: number; depth: number }) => {
      process.stdout.write(await runAnalyze(image, { format: formatOf(options), top: options.top, depth: options.depth }));
    });

  return program;
}

function report(err: unknown): number {
  if (err instanceof SlimError) {
    process.stderr.write(`slim: ${err.message}\n`);
    if (err.hint) process.stderr.write(`      ${err.hint}\n`);
    return err.exitCode;
  }
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : ExitCode.usage;
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`slim: unexpected error: ${message}\n`);
  if (process.env.SLIM_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return ExitCode.runtime;
}

async function main(argv: string[]): Promise<number> {
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nslim: ${signal}: cleaning up\n`);
    void runAllCleanups().finally(() => process.exit(ExitCode.interrupted));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  try {
    await buildProgram().parseAsync(argv);
    return ExitCode.ok;
  } catch (err) {
    return report(err);
  } finally {
    const failures = await runAllCleanups();
    for (const failure of failures) process.stderr.write(`slim: cleanup failed: ${failure}\n`);
  }
}

process.exitCode = await main(process.argv);
