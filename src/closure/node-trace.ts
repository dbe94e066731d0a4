import { nodeFileTrace, type NodeFileTraceOptions } from '@vercel/nft';
import type { FileRecord } from '../image/file-index.js';
import type { ImageFs } from '../image/image-fs.js';

type Stats = NonNullable<Awaited<ReturnType<NonNullable<NodeFileTraceOptions['stat']>>>>;

const TYPE_BITS: Record<string, number> = { file: 0o100000, hardlink: 0o100000, directory: 0o040000, symlink: 0o120000 };

function statsOf(record: FileRecord): Stats {
  const mtime = new Date(record.mtime * 1000);
  const kind = record.type;
  return {
    isFile: () => kind === 'file' || kind === 'hardlink',
    isDirectory: () => kind === 'directory',
    isBlockDevice: () => kind === 'block-device',
    isCharacterDevice: () => kind === 'char-device',
    isSymbolicLink: () => kind === 'symlink',
    isFIFO: () => kind === 'fifo',
    isSocket: () => false,
    dev: 0,
    ino: 0,
    mode: (TYPE_BITS[kind] ?? 0) | (record.mode & 0o7777),
    nlink: 1,
    uid: record.uid,
    gid: record.gid,
    rdev: 0,
    size: record.size,
    blksize: 4096,
    blocks: Math.ceil(record.size / 512),
    atimeMs: mtime.getTime(),
    mtimeMs: mtime.getTime(),
    ctimeMs: mtime.getTime(),
    birthtimeMs: mtime.getTime(),
    atime: mtime,
    mtime,
    ctime: mtime,
    birthtime: mtime,
  };
}

/**
 * Node's module graph from the entry modules, read from the image (never the host): @vercel/nft
 * follows require/import, package.json exports and asset references, so modules the run happened not
 * to load (a lazily required branch, a template) are kept too. Globs are not expanded, because nft
 * would expand them on the host's filesystem.
 */
export async function traceNodeModules(fs: ImageFs, entries: string[], cwd: string): Promise<{ files: string[]; warnings: string[] }> {
  if (entries.length === 0) return { files: [], warnings: [] };
  const result = await nodeFileTrace(entries, {
    base: '/',
    processCwd: cwd,
    analysis: { emitGlobs: false, computeFileReferences: true, evaluatePureExpressions: true },
    readFile: async (path) => (await fs.readFile(path)) ?? null,
    stat: async (path) => {
      const record = fs.resolve(path).record;
      return record ? statsOf(record) : null;
    },
    readlink: async (path) => {
      const record = fs.lstat(path);
      return record?.type === 'symlink' ? (record.linkTarget ?? null) : null;
    },
  });
  const files = [...result.fileList].map((p) => (p.startsWith('/') ? p : `/${p}`)).filter((p) => fs.lstat(p) !== undefined);
  return { files: files.sort(), warnings: [...result.warnings].map((w) => w.message) };
}
