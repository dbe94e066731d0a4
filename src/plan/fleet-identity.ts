/**
 * What makes two functions' copies of a path the same file in a slim layer: its type and its bytes as
 * written (content digest or link target, mode, owner, and the modification time slim writes).
 * Shared layers hold a path only when every image that holds the layer has it exactly so.
 */
export interface FileIdentity {
  type: 'file' | 'symlink' | 'directory';
  /** permission bits (& 0o7777) */
  mode: number;
  uid: number;
  gid: number;
  /** the modification time written, seconds */
  mtime: number;
  /** content bytes of a file, 0 otherwise */
  size: number;
  /** `sha256:…` of a file's content */
  sha256?: string;
  linkTarget?: string;
}

const TYPE_CODES = { file: 'f', symlink: 'l', directory: 'd' } as const;

/** A compact, canonical string for an identity: equal strings, identical entries. */
export function identityKey(id: FileIdentity): string {
  const head = `${TYPE_CODES[id.type]}:${(id.mode & 0o7777).toString(8)}:${id.uid}:${id.gid}:${id.mtime}`;
  if (id.type === 'file') return `${head}:${id.size}:${id.sha256 ?? ''}`;
  if (id.type === 'symlink') return `${head}:${JSON.stringify(id.linkTarget ?? '')}`;
  return head;
}

export function parseIdentityKey(key: string): FileIdentity | undefined {
  const m = /^([fld]):([0-7]{1,4}):(\d+):(\d+):(-?\d+)(?::(.*))?$/s.exec(key);
  if (!m) return undefined;
  const base = { mode: parseInt(m[2]!, 8), uid: Number(m[3]), gid: Number(m[4]), mtime: Number(m[5]) };
  const rest = m[6];
  if (m[1] === 'd') return rest === undefined ? { type: 'directory', size: 0, ...base } : undefined;
  if (m[1] === 'l') {
    try {
      const target = JSON.parse(rest ?? '') as unknown;
      return typeof target === 'string' ? { type: 'symlink', size: 0, linkTarget: target, ...base } : undefined;
    } catch {
      return undefined;
    }
  }
  const f = /^(\d+):(sha256:[0-9a-f]{64})$/.exec(rest ?? '');
  return f ? { type: 'file', size: Number(f[1]), sha256: f[2]!, ...base } : undefined;
}

export function keyBytes(key: string): number {
  return key.startsWith('f:') ? Number(key.split(':')[5]) : 0;
}

export function isDirectoryKey(key: string): boolean {
  return key.startsWith('d:');
}
