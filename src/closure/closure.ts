import { globMatcher } from '../glob.js';
import type { ImageFs } from '../image/image-fs.js';
import { normalizePath } from '../image/resolve-path.js';
import { elfClosure } from './elf-closure.js';
import { KeepSet, type KeepReason } from './keep-set.js';
import { traceNodeModules } from './node-trace.js';
import { pythonRules, systemFileRules, timezoneRules, tlsRules } from './rules.js';
import { findExecutable } from './search-path.js';
import { shebangInterpreters } from './shebang.js';

/** What the tracer saw, reduced to what the closure needs. */
export interface TracedAccess {
  path: string;
  kinds: string[];
  firstAt?: number;
  virtual?: boolean;
}

export interface TracedExec {
  path: string;
  argv: string[];
}

export interface ClosureInput {
  fs: ImageFs;
  /** every path in the image (absolute), for --include globs */
  allPaths: string[];
  accesses: TracedAccess[];
  execs: TracedExec[];
  env: string[];
  workingDir: string;
  /** the container's command (ENTRYPOINT + CMD) */
  argv: string[];
  include?: string[];
  exclude?: string[];
  includeExe?: string[];
}

export interface ClosureResult {
  keep: KeepSet;
  missingLibraries: Array<{ name: string; from: string }>;
  warnings: string[];
}

function reasonOf(kinds: string[]): KeepReason {
  if (kinds.includes('exec')) return 'traced-exec';
  if (kinds.includes('mmap')) return 'traced-mmap';
  if (kinds.includes('open')) return 'traced-open';
  if (kinds.includes('list')) return 'traced-list';
  return 'traced-stat';
}

const NODE_BINARY = /(^|\/)(node|nodejs)$/;
const NODE_OPTIONS_WITH_VALUE = new Set(['-r', '--require', '--import', '--loader', '--experimental-loader', '-C', '--conditions', '--env-file', '--title']);

/** The modules node starts from: the script and every `-r`/`--require`/`--import` preload. */
export function nodeEntries(argv: string[], cwd: string): string[] {
  const entries: string[] = [];
  const absolute = (p: string) => normalizePath(p, cwd);
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-e' || arg === '--eval' || arg === '-p' || arg === '--print') return entries;
    if (NODE_OPTIONS_WITH_VALUE.has(arg)) {
      const value = argv[++i];
      if (value && (arg === '-r' || arg === '--require' || arg === '--import') && (value.startsWith('.') || value.startsWith('/'))) entries.push(absolute(value));
      continue;
    }
    const inline = /^(--require|--import)=(.+)$/.exec(arg);
    if (inline) {
      if (inline[2]!.startsWith('.') || inline[2]!.startsWith('/')) entries.push(absolute(inline[2]!));
      continue;
    }
    if (arg.startsWith('-')) continue;
    entries.push(absolute(arg));
    return entries;
  }
  return entries;
}

/**
 * Everything the slim image must hold: what the run touched (with the symlinks on the way), plus what
 * static analysis proves is needed — shebang interpreters, node's module graph, the ELF libraries of
 * every kept binary, lazily read system files — plus the user's includes, less the user's excludes.
 */
export async function computeKeepSet(input: ClosureInput): Promise<ClosureResult> {
  const { fs, env } = input;
  const keep = new KeepSet();
  const warnings: string[] = [];

  const keepResolved = (path: string, reason: KeepReason, details: { from?: string; firstAt?: number } = {}): string | undefined => {
    const resolved = fs.resolve(path);
    for (const link of resolved.links) keep.add(link, 'symlink', { from: path, firstAt: details.firstAt });
    if (!resolved.record) return undefined;
    keep.add(resolved.path, reason, details);
    return resolved.path;
  };

  for (const access of input.accesses) {
    if (access.virtual) continue;
    const kept = keepResolved(access.path, reasonOf(access.kinds), { firstAt: access.firstAt });
    if (!kept && (access.kinds.includes('create') || access.kinds.includes('write'))) {
      // a file the function creates at run time needs its directory to exist
      keepResolved(access.path.slice(0, access.path.lastIndexOf('/')) || '/', 'traced-stat', { from: access.path });
    }
  }

  const programs = new Set<string>();
  for (const exec of input.execs) {
    const path = keepResolved(exec.path, 'traced-exec');
    if (path) programs.add(path);
  }
  const command = input.argv[0] ? findExecutable(fs, input.argv[0], env, input.workingDir) : undefined;
  if (command) programs.add(keepResolved(command, 'traced-exec') ?? command);
  for (const name of input.includeExe ?? []) {
    const found = findExecutable(fs, name, env, input.workingDir);
    if (!found) {
      warnings.push(`--include-exe ${name}: not found on the image's PATH`);
      continue;
    }
    const path = keepResolved(found, 'user-exe');
    if (path) programs.add(path);
  }

  for (const program of [...programs]) {
    for (const interpreter of await shebangInterpreters(fs, program, env)) {
      const path = keepResolved(interpreter, 'shebang', { from: program });
      if (path) programs.add(path);
    }
  }

  for (const exec of input.execs) {
    if (!NODE_BINARY.test(fs.resolve(exec.path).path)) continue;
    const entries = nodeEntries(exec.argv, input.workingDir).filter((e) => fs.resolve(e).record);
    if (entries.length === 0) continue;
    try {
      const traced = await traceNodeModules(fs, entries, input.workingDir);
      for (const file of traced.files) keepResolved(file, 'nft', { from: entries[0] });
    } catch (err) {
      warnings.push(`node file trace from ${entries.join(', ')} failed: ${(err as Error).message}`);
    }
  }

  for (const hit of systemFileRules(fs)) keepResolved(hit.path, 'rule');
  for (const hit of timezoneRules(fs, env)) keepResolved(hit.path, 'rule', { from: hit.from });
  for (const pattern of input.include ?? []) {
    const matches = globMatcher(pattern);
    let count = 0;
    for (const path of input.allPaths) {
      if (matches(path)) {
        keepResolved(path, 'user-include', { from: pattern });
        count += 1;
      }
    }
    if (count === 0) warnings.push(`--include ${pattern} matched nothing in the image`);
  }

  const elfRoots = keep.paths().filter((p) => {
    const record = fs.lstat(p);
    return record?.elf !== undefined && (record.type === 'file' || record.type === 'hardlink');
  });
  const elf = await elfClosure(elfRoots, fs, { env });
  for (const [path, entry] of elf.files) keepResolved(path, entry.reason, { from: entry.from });
  warnings.push(...elf.problems);

  for (const hit of tlsRules(fs, keep.paths())) keepResolved(hit.path, 'rule', { from: hit.from });
  for (const hit of pythonRules(fs, keep.paths())) keepResolved(hit.path, 'rule', { from: hit.from });

  for (const pattern of input.exclude ?? []) {
    const matches = globMatcher(pattern);
    for (const path of keep.paths()) if (matches(path)) keep.delete(path);
  }
  return { keep, missingLibraries: elf.missing, warnings };
}
