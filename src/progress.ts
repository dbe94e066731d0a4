import prettyBytes from 'pretty-bytes';

export interface Progress {
  update(text: string): void;
  done(): void;
}

const silent: Progress = { update: () => undefined, done: () => undefined };

/** A one-line status on stderr when it is a terminal; nothing otherwise (CI logs stay clean). */
export function progress(enabled = Boolean(process.stderr.isTTY) && !process.env.CI): Progress {
  if (!enabled) return silent;
  let last = 0;
  let shown = false;
  return {
    update(text: string) {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      shown = true;
      process.stderr.write(`\r\x1b[2K${text.slice(0, (process.stderr.columns ?? 100) - 1)}`);
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[2K');
      shown = false;
    },
  };
}

export function rate(bytes: number, startedAt: number): string {
  const seconds = Math.max((Date.now() - startedAt) / 1000, 0.001);
  return `${prettyBytes(bytes / seconds)}/s`;
}
