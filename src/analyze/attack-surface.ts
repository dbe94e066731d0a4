import { posix } from 'node:path';
import type { FileRecord } from '../image/file-index.js';

/** What an attacker who gets code execution in the container finds to work with. */
export interface AttackSurface {
  /** regular files (and hardlinks) with an execute bit */
  executables: number;
  /** command interpreters, by path (symlinks such as /bin/sh → dash included) */
  shells: string[];
  /** tools that install more software */
  packageManagers: string[];
  setuid: string[];
  setgid: string[];
}

export const SHELL_NAMES = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh', 'ksh93', 'mksh', 'csh', 'tcsh', 'fish', 'busybox', 'rbash']);
export const PACKAGE_MANAGER_NAMES = new Set([
  'apt', 'apt-get', 'aptitude', 'dpkg', 'rpm', 'yum', 'dnf', 'microdnf', 'zypper', 'apk', 'pacman',
  'pip', 'pip3', 'easy_install', 'npm', 'npx', 'yarn', 'pnpm', 'gem', 'conda', 'cargo',
]);

const SETUID = 0o4000;
const SETGID = 0o2000;

function isExecutableFile(r: Pick<FileRecord, 'type' | 'mode'>): boolean {
  return (r.type === 'file' || r.type === 'hardlink') && (r.mode & 0o111) !== 0;
}

/**
 * The attack surface of a set of files: a shell or package manager counts when its name matches, it is in
 * a bin/ or sbin/ directory and it is an executable file or a symlink (dangling ones included).
 */
export function attackSurface(records: Iterable<Pick<FileRecord, 'path' | 'type' | 'mode'>>): AttackSurface {
  const surface: AttackSurface = { executables: 0, shells: [], packageManagers: [], setuid: [], setgid: [] };
  for (const r of records) {
    const executable = isExecutableFile(r);
    if (executable) surface.executables += 1;
    if (!executable && r.type !== 'symlink') continue;
    // index records are relative to the root, planned entries absolute: report them all absolute
    const path = r.path.startsWith('/') ? r.path : `/${r.path}`;
    const name = posix.basename(path);
    // programs live in bin/ and sbin/ directories; /etc/cron.daily/dpkg is a maintenance script
    const inBin = /(^|\/)s?bin$/.test(posix.dirname(path));
    if (inBin && SHELL_NAMES.has(name)) surface.shells.push(path);
    if (inBin && PACKAGE_MANAGER_NAMES.has(name)) surface.packageManagers.push(path);
    if (!executable) continue;
    if (r.mode & SETUID) surface.setuid.push(path);
    if (r.mode & SETGID) surface.setgid.push(path);
  }
  for (const list of [surface.shells, surface.packageManagers, surface.setuid, surface.setgid]) list.sort();
  return surface;
}

export interface AttackSurfaceChange {
  original: AttackSurface;
  slim: AttackSurface;
}

/** Rows for a report table: what, original count, slim count, examples of what remains in slim. */
export function attackSurfaceRows(change: AttackSurfaceChange): string[][] {
  const row = (label: string, pick: (s: AttackSurface) => string[]) => {
    const remaining = pick(change.slim);
    return [label, String(pick(change.original).length), String(remaining.length), remaining.slice(0, 3).join(', ') + (remaining.length > 3 ? ', …' : '')];
  };
  return [
    row('shells', (s) => s.shells),
    row('package managers', (s) => s.packageManagers),
    row('setuid binaries', (s) => s.setuid),
    row('setgid binaries', (s) => s.setgid),
    ['executables', String(change.original.executables), String(change.slim.executables), ''],
  ];
}
