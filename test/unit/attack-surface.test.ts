import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { attackSurface, attackSurfaceRows } from '../../src/analyze/attack-surface.js';
import type { FileRecord } from '../../src/image/file-index.js';

type Entry = Pick<FileRecord, 'path' | 'type' | 'mode'>;
const file = (path: string, mode: number): Entry => ({ path, type: 'file', mode });
const link = (path: string): Entry => ({ path, type: 'symlink', mode: 0o777 });

describe('attack surface', () => {
  const original: Entry[] = [
    file('/usr/bin/dash', 0o755),
    link('/bin/sh'),
    file('/usr/bin/bash', 0o755),
    file('/usr/bin/apt-get', 0o755),
    file('/usr/bin/dpkg', 0o755),
    link('/usr/local/bin/npm'),
    file('/usr/bin/su', 0o4755),
    file('/usr/bin/passwd', 0o4755),
    file('/usr/bin/chage', 0o2755),
    file('/usr/bin/node', 0o755),
    { path: '/usr/bin/wall', type: 'hardlink', mode: 0o2755 },
    file('/etc/bash.bashrc', 0o644),
    file('/usr/share/doc/sh', 0o644),
    file('/etc/cron.daily/dpkg', 0o755),
    link('/usr/share/bug/dpkg'),
    file('/opt/setuid-but-not-executable', 0o4644),
    { path: '/usr/bin', type: 'directory', mode: 0o755 },
    { path: '/dev/null', type: 'char-device', mode: 0o666 },
  ];

  test('finds shells (symlinks too) and package managers in bin directories, setuid and setgid executables', () => {
    const s = attackSurface(original);
    assert.deepEqual(s.shells, ['/bin/sh', '/usr/bin/bash', '/usr/bin/dash']);
    assert.deepEqual(s.packageManagers, ['/usr/bin/apt-get', '/usr/bin/dpkg', '/usr/local/bin/npm']);
    assert.deepEqual(s.setuid, ['/usr/bin/passwd', '/usr/bin/su']);
    assert.deepEqual(s.setgid, ['/usr/bin/chage', '/usr/bin/wall']);
    assert.equal(s.executables, 10);
  });

  test('a file named like a shell that cannot be executed is not a shell; relative paths are made absolute', () => {
    assert.deepEqual(attackSurface([file('/usr/share/doc/sh', 0o644), file('opt/x', 0o4644), file('usr/bin/zsh', 0o755)]), { executables: 1, shells: ['/usr/bin/zsh'], packageManagers: [], setuid: [], setgid: [] });
  });

  test('rows compare original and slim and name what remains', () => {
    const rows = attackSurfaceRows({ original: attackSurface(original), slim: attackSurface([file('/usr/bin/node', 0o755), link('/bin/sh')]) });
    assert.deepEqual(rows, [
      ['shells', '3', '1', '/bin/sh'],
      ['package managers', '3', '0', ''],
      ['setuid binaries', '2', '0', ''],
      ['setgid binaries', '2', '0', ''],
      ['executables', '10', '1', ''],
    ]);
  });
});
