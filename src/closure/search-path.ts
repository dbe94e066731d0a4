import type { ImageFs } from '../image/image-fs.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function envValue(env: string[] | null | undefined, name: string): string | undefined {
  const prefix = `${name}=`;
  const found = (env ?? []).find((e) => e.startsWith(prefix));
  return found?.slice(prefix.length);
}

/** Finds a command the way execvp does inside the container: as a path when it has a slash, else on PATH. */
export function findExecutable(fs: ImageFs, command: string, env: string[] | null | undefined, cwd = '/'): string | undefined {
  const isRunnable = (path: string) => {
    const record = fs.resolve(path).record;
    return record !== undefined && (record.type === 'file' || record.type === 'hardlink') && (record.mode & 0o111) !== 0;
  };
  if (command.includes('/')) {
    const path = command.startsWith('/') ? command : `${cwd.replace(/\/$/, '')}/${command}`;
    return isRunnable(path) ? path : undefined;
  }
  for (const dir of (envValue(env, 'PATH') ?? DEFAULT_PATH).split(':')) {
    if (!dir) continue;
    const candidate = `${dir.replace(/\/$/, '')}/${command}`;
    if (isRunnable(candidate)) return candidate;
  }
  return undefined;
}
