import type { ImageFs } from '../image/image-fs.js';
import { findExecutable } from './search-path.js';

export interface Shebang {
  interpreter: string;
  args: string[];
}

/** The `#!` line of a script, if it has one. */
export function parseShebang(head: Buffer): Shebang | undefined {
  if (head.length < 3 || head[0] !== 0x23 || head[1] !== 0x21) return undefined;
  const end = head.indexOf(0x0a);
  const line = head.toString('utf8', 2, end === -1 ? Math.min(head.length, 256) : end).trim();
  const [interpreter, ...args] = line.split(/\s+/);
  return interpreter ? { interpreter, args } : undefined;
}

/**
 * The programs a script needs to start: its interpreter, and for `#!/usr/bin/env NAME` also NAME as
 * found on the image's PATH (`env -S` and option flags are skipped).
 */
export async function shebangInterpreters(fs: ImageFs, script: string, env: string[] | null | undefined): Promise<string[]> {
  const file = await fs.open(script);
  if (!file) return [];
  const shebang = parseShebang(await file.read(0, 256));
  if (!shebang) return [];
  const found = [shebang.interpreter];
  if (/(^|\/)env$/.test(shebang.interpreter)) {
    const words = shebang.args.flatMap((a) => a.split(/\s+/)).filter((a) => a && !a.startsWith('-') && !a.includes('='));
    const name = words[0];
    const resolved = name ? findExecutable(fs, name, env) : undefined;
    if (resolved) found.push(resolved);
  }
  return found;
}
