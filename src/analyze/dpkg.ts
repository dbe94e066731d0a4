import type { ImageFs } from '../image/image-fs.js';

const INFO_DIR = '/var/lib/dpkg/info';

/**
 * Which Debian package owns each path, from dpkg's `/var/lib/dpkg/info/<package>[:arch].list` files.
 * Directories appear in several packages' lists; only files and symlinks are attributed, keyed by
 * their path in the image.
 */
export async function readDpkgOwnership(fs: ImageFs): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  for (const name of fs.list(INFO_DIR)) {
    if (!name.endsWith('.list')) continue;
    const content = await fs.readFile(`${INFO_DIR}/${name}`);
    if (!content) continue;
    const pkg = name.slice(0, -'.list'.length).replace(/:[a-z0-9]+$/, '');
    for (const line of content.toString('utf8').split('\n')) {
      if (!line.startsWith('/') || line === '/.') continue;
      // lists name paths as packaged (/bin/sh); on merged-/usr images the directory is a symlink
      const slash = line.lastIndexOf('/');
      const dir = fs.resolve(line.slice(0, slash) || '/').path;
      const path = `${dir === '/' ? '' : dir}${line.slice(slash)}`;
      const record = fs.lstat(path);
      // merged-/usr images turn packaged directories (/bin, /lib) into symlinks: not a package's file
      if (!record || record.type === 'directory' || fs.resolve(path).record?.type === 'directory') continue;
      owners.set(path, pkg);
    }
  }
  return owners;
}
