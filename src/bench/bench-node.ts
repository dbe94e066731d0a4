import { startBenchEngine, type BenchEngine } from './bench-engine.js';
import { sweepBenchOrphans } from './bench-orphans.js';
import { connectRegistry, startRegistry, type Registry } from './registry.js';
import { createShapedLink, type ShapedLink } from './shaped-link.js';

export interface BenchNodeOptions {
  bandwidth?: string;
  registry?: string;
  log: (line: string) => void;
}

/**
 * A registry (on 127.0.0.1, or behind a shaped link in a network namespace) and a clean engine of the
 * bench's own, for the length of `use`; both are removed afterwards, also on failure and Ctrl-C.
 */
export async function withBenchNode<T>(options: BenchNodeOptions, use: (node: { registry: Registry; engine: BenchEngine }) => Promise<T>): Promise<T> {
  let link: ShapedLink | undefined;
  let registry: Registry | undefined;
  let engine: BenchEngine | undefined;
  try {
    await sweepBenchOrphans();
    if (options.bandwidth) {
      options.log(`shaping the registry link to ${options.bandwidth}`);
      link = await createShapedLink({ rate: options.bandwidth });
    }
    registry = options.registry ? connectRegistry(options.registry) : await startRegistry(link ? { host: link.nsAddress, netns: link.netns } : {});
    options.log(`registry at ${registry.address}; starting a clean engine`);
    engine = await startBenchEngine();
    return await use({ registry, engine });
  } finally {
    await engine?.stop();
    await registry?.stop();
    await link?.remove();
  }
}
