import { createHash } from 'node:crypto';
import { copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheRoot, writeEntry } from '../cache.js';
import { sha256File } from '../image/digest.js';

/** Bump when what is linked for the same inputs changes (jlink's options, the dump's flags). */
const FORMAT = 1;

export interface RuntimeKey {
  /** Debian package=version of the JDK that links */
  jdk: string;
  javaHome: string;
  modules: string[];
  locales: string[];
  /** the CDS archives dumped again, relative to the Java home */
  archives: string[];
}

export function runtimeKey(key: RuntimeKey): string {
  const canonical = {
    format: FORMAT,
    jdk: key.jdk,
    javaHome: key.javaHome,
    modules: [...key.modules].sort(),
    locales: [...key.locales].sort(),
    archives: [...key.archives].sort(),
  };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

export function jdepsKey(jdk: string, feature: string, jarDigest: string): string {
  return createHash('sha256').update(JSON.stringify({ format: FORMAT, jdk, feature, jar: jarDigest })).digest('hex');
}

interface Manifest {
  /** name in the entry → sha256 of its content */
  files: Record<string, string>;
  text: string;
}

/**
 * What --jvm-jlink made before, kept by its inputs: jdeps' class dependencies per jar, and linked runtimes.
 * JDK 17's `-Xshare:dump` writes a different CDS archive each time it runs, so only a runtime linked once
 * and reused keeps the system layer's digest from one build to the next (and it skips apt and jlink).
 */
export class JlinkCache {
  constructor(readonly root: string = cacheRoot()) {}

  private dir(kind: 'jdeps' | 'runtime', key: string): string {
    return join(this.root, 'jlink', kind, key);
  }

  async jdeps(key: string): Promise<string | undefined> {
    return readFile(join(this.dir('jdeps', key), 'jdeps.txt'), 'utf8').catch(() => undefined);
  }

  /** A cache that cannot be written is only slower: the error is the caller's warning, never a failure. */
  async putJdeps(key: string, output: string): Promise<void> {
    await writeEntry(this.dir('jdeps', key), (tmp) => writeFile(join(tmp, 'jdeps.txt'), output));
  }

  /**
   * Copies a cached runtime's files to `target(name)`, each checked against the digest it was stored
   * with; the entry's text (the linked release). Undefined when there is none, or it does not check out.
   */
  async runtime(key: string, target: (name: string) => string): Promise<{ text: string; sizes: Map<string, number> } | undefined> {
    const dir = this.dir('runtime', key);
    let manifest: Manifest;
    try {
      manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    } catch {
      return undefined;
    }
    const sizes = new Map<string, number>();
    for (const [name, digest] of Object.entries(manifest.files)) {
      const to = target(name);
      try {
        await copyFile(join(dir, name), to);
        if ((await sha256File(to)) !== digest) return undefined;
        sizes.set(name, (await stat(to)).size);
      } catch {
        return undefined;
      }
    }
    return { text: manifest.text, sizes };
  }

  async putRuntime(key: string, files: Map<string, string>, text: string): Promise<void> {
    await writeEntry(this.dir('runtime', key), async (tmp) => {
      const manifest: Manifest = { files: {}, text };
      for (const [name, from] of files) {
        await copyFile(from, join(tmp, name));
        manifest.files[name] = await sha256File(from);
      }
      await writeFile(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    });
  }
}
