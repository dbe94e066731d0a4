import picomatch from 'picomatch';

/**
 * A matcher for a user's path glob (--include, --exclude, --group): `*` and `**` match dot files, and
 * any byte of a name, a newline too (picomatch's `**` would stop at one without the `s` flag).
 */
export function globMatcher(pattern: string): (path: string) => boolean {
  return picomatch(pattern, { dot: true, flags: 's' });
}
