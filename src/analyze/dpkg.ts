import type { ImageFs } from '../image/image-fs.js';

const INFO_DIR = '/var/lib/dpkg/info';
const BYTECODE = /^(.*)\/__pycache__\/([^/.]+)\.[^/]*\.pyc$/;

/**
 * Which Debian package owns each path, from dpkg's `/var/lib/dpkg/info/<package>[:arch].list` files,
 * keyed by the path in the image. A directory several packages list goes to the first of them;
 * merged-/usr symlinks (/bin, /lib), which the lists name as directories, go to none. Python bytecode
 * that a package's postinst compiled (`__pycache__/NAME.*.pyc`, in no list) goes to the owner of
 * `NAME.py`, so it shares its source's fate.
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
      if (!record) continue;
      if (record.type === 'directory') {
        if (!owners.has(path)) owners.set(path, pkg);
        continue;
      }
      if (fs.resolve(path).record?.type === 'directory') continue;
      owners.set(path, pkg);
    }
  }
  for (const dir of [...owners.keys()]) {
    if (fs.lstat(dir)?.type !== 'directory') continue;
    for (const file of fs.list(`${dir}/__pycache__`)) {
      const path = `${dir}/__pycache__/${file}`;
      const source = BYTECODE.exec(path);
      const owner = source ? owners.get(`${source[1]}/${source[2]}.py`) : undefined;
      if (owner && !owners.has(path)) owners.set(path, owner);
    }
  }
  return owners;
}
