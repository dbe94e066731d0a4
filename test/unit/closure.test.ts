import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { computeKeepSet, nodeEntries, type ClosureInput, type ClosureResult } from '../../src/closure/closure.js';
import { DirImageFs } from '../../src/closure/dir-image-fs.js';
import { KeepSet } from '../../src/closure/keep-set.js';
import { traceNodeModules } from '../../src/closure/node-trace.js';
import { pythonRules, systemFileRules, timezoneRules, tlsRules } from '../../src/closure/rules.js';
import { DEFAULT_PATH, envValue, findExecutable } from '../../src/closure/search-path.js';
import { parseShebang, shebangInterpreters } from '../../src/closure/shebang.js';
import { dirIn, lddPaths, linkIn, mirrorHostPath, writeIn } from '../helpers/host-root.js';

const tempRoots: string[] = [];

function newRoot(name: string): string {
  const tmp = realpathSync(mkdtempSync(join(tmpdir(), `slim-closure-${name}-`)));
  tempRoots.push(tmp);
  return tmp;
}

after(() => {
  for (const root of tempRoots) rmSync(root, { recursive: true, force: true });
});

/** Every path under a host root, as image paths. */
function allPaths(root: string, dir = ''): string[] {
  const paths: string[] = [];
  for (const name of readdirSync(join(root, dir)).sort()) {
    const path = `${dir}/${name}`;
    paths.push(path);
    if (lstatSync(join(root, path)).isDirectory()) paths.push(...allPaths(root, path));
  }
  return paths;
}

describe('KeepSet', () => {
  test('merges reasons, keeps the earliest firstAt and the first from, lists sorted', () => {
    const keep = new KeepSet();
    assert.equal(keep.add('/b', 'traced-stat', { firstAt: 2 }), true);
    assert.equal(keep.add('/b', 'traced-open', { firstAt: 1, from: '/x' }), false);
    assert.equal(keep.add('/b', 'traced-stat', { firstAt: 3, from: '/y' }), false);
    keep.add('/a', 'symlink');
    assert.deepEqual(keep.get('/b'), { path: '/b', reasons: ['traced-stat', 'traced-open'], firstAt: 1, from: '/x' });
    assert.deepEqual(keep.paths(), ['/a', '/b']);
    assert.deepEqual(keep.list(), [
      { path: '/a', reasons: ['symlink'] },
      { path: '/b', reasons: ['traced-open', 'traced-stat'], firstAt: 1, from: '/x' },
    ]);
    assert.equal(keep.size, 2);
    keep.delete('/a');
    assert.equal(keep.has('/a'), false);
    assert.equal(keep.size, 1);
  });
});

describe('nodeEntries', () => {
  test('the script and relative or absolute preloads, resolved against the working directory', () => {
    assert.deepEqual(nodeEntries(['node', 'server.js', '--port', '3000'], '/app'), ['/app/server.js']);
    const normalized = (argv: string[], cwd: string) => nodeEntries(argv, cwd).map((p) => posix.normalize(p));
    assert.deepEqual(normalized(['node', '-r', './preload.js', '--max-old-space-size=100', 'dist/main.js'], '/srv/'), [
      '/srv/preload.js',
      '/srv/dist/main.js',
    ]);
    assert.deepEqual(nodeEntries(['node', '--import', '/opt/hook.mjs', '--require', 'dotenv/config', '/abs/app.mjs'], '/app'), [
      '/opt/hook.mjs',
      '/abs/app.mjs',
    ]);
    assert.deepEqual(nodeEntries(['node', '--title', 'web', 'index.js'], '/'), ['/index.js'], 'an option value is not the script');
    assert.deepEqual(nodeEntries(['node', '-e', 'require("./x")'], '/app'), []);
    assert.deepEqual(normalized(['node', '-r', './pre.js', '-p', '1'], '/app'), ['/app/pre.js']);
    assert.deepEqual(nodeEntries(['node'], '/app'), []);
  });
});

describe('envValue and findExecutable', () => {
  let fs: DirImageFs;
  before(() => {
    const root = newRoot('path');
    writeIn(root, '/usr/local/bin/python3', 'not runnable', 0o644);
    writeIn(root, '/opt/py/bin/python3', '#!/bin/sh\n', 0o755);
    writeIn(root, '/usr/bin/python3.11', '#!/bin/sh\n', 0o755);
    linkIn(root, '/usr/bin/python3', 'python3.11');
    dirIn(root, '/opt/py/tools');
    fs = new DirImageFs(root);
  });

  test('envValue reads KEY=value entries', () => {
    const env = ['PATHEXT=no', 'PATH=/a:/b', 'OPTS=x=y'];
    assert.equal(envValue(env, 'PATH'), '/a:/b');
    assert.equal(envValue(env, 'OPTS'), 'x=y');
    assert.equal(envValue(env, 'MISSING'), undefined);
    assert.equal(envValue(null, 'PATH'), undefined);
    assert.equal(envValue(['EMPTY='], 'EMPTY'), '');
  });

  test('searches PATH for an executable regular file, skipping files without an exec bit and directories', () => {
    assert.equal(findExecutable(fs, 'python3', ['PATH=/usr/local/bin:/opt/py/bin:/usr/bin']), '/opt/py/bin/python3');
    assert.equal(findExecutable(fs, 'python3', ['PATH=/usr/local/bin::/usr/bin/']), '/usr/bin/python3', 'through a symlink, as named');
    assert.equal(findExecutable(fs, 'python3', null), '/usr/bin/python3', `the default PATH ${DEFAULT_PATH}`);
    assert.equal(findExecutable(fs, 'tools', ['PATH=/opt/py']), undefined);
    assert.equal(findExecutable(fs, 'ruby', ['PATH=/usr/bin']), undefined);
  });

  test('a command with a slash is taken as a path, relative to the working directory', () => {
    assert.equal(findExecutable(fs, '/opt/py/bin/python3', []), '/opt/py/bin/python3');
    assert.equal(findExecutable(fs, 'bin/python3', [], '/opt/py/'), '/opt/py/bin/python3');
    assert.equal(findExecutable(fs, './python3', [], '/usr/bin'), '/usr/bin/./python3');
    assert.equal(findExecutable(fs, '/usr/local/bin/python3', []), undefined, 'not executable');
    assert.equal(findExecutable(fs, '/opt/py/tools', []), undefined, 'a directory');
  });
});

describe('parseShebang and shebangInterpreters', () => {
  let fs: DirImageFs;
  const env = ['PATH=/usr/local/bin:/opt/py/bin:/usr/bin'];
  before(() => {
    const root = newRoot('shebang');
    writeIn(root, '/usr/bin/env', 'env', 0o755);
    writeIn(root, '/usr/local/bin/python3', 'not runnable', 0o644);
    writeIn(root, '/opt/py/bin/python3', 'py', 0o755);
    writeIn(root, '/app/env.py', '#!/usr/bin/env python3\nprint(1)\n', 0o755);
    writeIn(root, '/app/env-s.py', '#!/usr/bin/env -S python3 -u\n', 0o755);
    writeIn(root, '/app/env-var.py', '#!/usr/bin/env PYTHONUNBUFFERED=1 python3\n', 0o755);
    writeIn(root, '/app/env-missing', '#!/usr/bin/env nosuch\n', 0o755);
    writeIn(root, '/app/run.sh', '#!/bin/sh -e\necho hi\n', 0o755);
    writeIn(root, '/app/plain.txt', 'no shebang\n', 0o755);
    linkIn(root, '/app/link.sh', 'run.sh');
    fs = new DirImageFs(root);
  });

  test('parseShebang splits interpreter and arguments', () => {
    assert.deepEqual(parseShebang(Buffer.from('#!/bin/sh -e\necho\n')), { interpreter: '/bin/sh', args: ['-e'] });
    assert.deepEqual(parseShebang(Buffer.from('#! /usr/bin/env  python3 \r\nx')), { interpreter: '/usr/bin/env', args: ['python3'] });
    assert.deepEqual(parseShebang(Buffer.from('#!/usr/bin/node')), { interpreter: '/usr/bin/node', args: [] });
    assert.equal(parseShebang(Buffer.from('#!\n')), undefined);
    assert.equal(parseShebang(Buffer.from('#!')), undefined);
    assert.equal(parseShebang(Buffer.from('echo hi\n')), undefined);
    assert.equal(parseShebang(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1])), undefined);
  });

  test('#!/usr/bin/env NAME resolves NAME on the image PATH', async () => {
    assert.deepEqual(await shebangInterpreters(fs, '/app/env.py', env), ['/usr/bin/env', '/opt/py/bin/python3']);
    assert.deepEqual(await shebangInterpreters(fs, '/app/env-s.py', env), ['/usr/bin/env', '/opt/py/bin/python3'], 'env -S');
    assert.deepEqual(await shebangInterpreters(fs, '/app/env-var.py', env), ['/usr/bin/env', '/opt/py/bin/python3'], 'assignments skipped');
    assert.deepEqual(await shebangInterpreters(fs, '/app/env-missing', env), ['/usr/bin/env']);
  });

  test('#!/bin/sh -e gives /bin/sh; scripts without shebang and missing files give nothing', async () => {
    assert.deepEqual(await shebangInterpreters(fs, '/app/run.sh', env), ['/bin/sh']);
    assert.deepEqual(await shebangInterpreters(fs, '/app/link.sh', env), ['/bin/sh'], 'read through a symlink');
    assert.deepEqual(await shebangInterpreters(fs, '/app/plain.txt', env), []);
    assert.deepEqual(await shebangInterpreters(fs, '/app/nothing', env), []);
  });
});

describe('rules', () => {
  let fs: DirImageFs;
  before(() => {
    const root = newRoot('rules');
    writeIn(root, '/etc/passwd', 'root:x:0:0::/root:/bin/sh\n');
    writeIn(root, '/etc/hosts', '127.0.0.1 localhost\n');
    linkIn(root, '/etc/resolv.conf', '../run/resolv.conf'); // dangling
    writeIn(root, '/usr/share/zoneinfo/Asia/Tokyo', 'TZif');
    linkIn(root, '/etc/localtime', '/usr/share/zoneinfo/Asia/Tokyo');
    writeIn(root, '/etc/tz/custom', 'TZif');
    writeIn(root, '/etc/ssl/certs/ca-certificates.crt', 'certs');
    writeIn(root, '/usr/lib/ssl/openssl.cnf', 'conf');
    // python: a package chain and a stdlib with encodings
    writeIn(root, '/app/pkg/__init__.py');
    writeIn(root, '/app/pkg/sub/__init__.py');
    writeIn(root, '/app/pkg/sub/mod.py');
    writeIn(root, '/app/pkg/sub/__pycache__/mod.cpython-311.pyc');
    writeIn(root, '/app/pkg/sub/__pycache__/__init__.cpython-311.pyc');
    writeIn(root, '/app/main.py');
    writeIn(root, '/app/nopkg/x.py');
    writeIn(root, '/usr/lib/python3.11/os.py');
    writeIn(root, '/usr/lib/python3.11/json/__init__.py');
    writeIn(root, '/usr/lib/python3.11/json/decoder.py');
    writeIn(root, '/usr/lib/python3.11/json/__pycache__/__init__.cpython-311.pyc');
    writeIn(root, '/usr/lib/python3.11/json/__pycache__/decoder.cpython-311.pyc');
    writeIn(root, '/usr/lib/python3.11/encodings/__init__.py');
    writeIn(root, '/usr/lib/python3.11/encodings/utf_8.py');
    writeIn(root, '/usr/lib/python3.11/encodings/__pycache__/utf_8.cpython-311.pyc');
    writeIn(root, '/usr/lib/python3.11/lib-dynload/_json.cpython-311-x86_64-linux-gnu.so');
    fs = new DirImageFs(root);
  });

  test('system files are listed only when they exist (through symlinks)', () => {
    assert.deepEqual(
      systemFileRules(fs).map((h) => h.path),
      ['/etc/passwd', '/etc/hosts', '/etc/localtime'],
    );
  });

  test('the TLS rule fires only when a TLS library or libnode is kept', () => {
    const expected = (from: string) => [
      { path: '/etc/ssl/certs/ca-certificates.crt', from },
      { path: '/usr/lib/ssl/openssl.cnf', from },
    ];
    assert.deepEqual(tlsRules(fs, ['/usr/bin/curl', '/usr/lib/x86_64-linux-gnu/libssl.so.3']), expected('/usr/lib/x86_64-linux-gnu/libssl.so.3'));
    assert.deepEqual(tlsRules(fs, ['/lib/libcrypto.so.3']), expected('/lib/libcrypto.so.3'));
    assert.deepEqual(tlsRules(fs, ['/usr/lib/libnode.so.108']), expected('/usr/lib/libnode.so.108'));
    assert.deepEqual(tlsRules(fs, ['/usr/bin/dash', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/share/doc/libssl3/copyright']), []);
    assert.deepEqual(tlsRules(fs, []), []);
  });

  test('the timezone rule follows TZ', () => {
    assert.deepEqual(timezoneRules(fs, ['TZ=Asia/Tokyo']), [{ path: '/usr/share/zoneinfo/Asia/Tokyo', from: 'TZ' }]);
    assert.deepEqual(timezoneRules(fs, ['TZ=:Asia/Tokyo']), [{ path: '/usr/share/zoneinfo/Asia/Tokyo', from: 'TZ' }]);
    assert.deepEqual(timezoneRules(fs, ['TZ=:/etc/tz/custom']), [{ path: '/etc/tz/custom', from: 'TZ' }]);
    assert.deepEqual(timezoneRules(fs, ['TZ=Mars/Olympus']), []);
    assert.deepEqual(timezoneRules(fs, ['LANG=C']), []);
    assert.deepEqual(timezoneRules(fs, null), []);
  });

  test('python: every __init__.py above a kept module, up to the first directory without one', () => {
    const mod = '/app/pkg/sub/mod.py';
    assert.deepEqual(pythonRules(fs, [mod]), [
      { path: '/app/pkg/sub/__init__.py', from: mod },
      { path: '/app/pkg/sub/__pycache__/__init__.cpython-311.pyc', from: mod },
      { path: '/app/pkg/__init__.py', from: mod },
    ]);
    const pyc = '/app/pkg/sub/__pycache__/mod.cpython-311.pyc';
    assert.deepEqual(
      pythonRules(fs, [pyc]).map((h) => h.path),
      ['/app/pkg/sub/__init__.py', '/app/pkg/sub/__pycache__/__init__.cpython-311.pyc', '/app/pkg/__init__.py'],
      'a cached module counts for its package',
    );
    assert.deepEqual(pythonRules(fs, ['/app/main.py', '/app/nopkg/x.py', '/usr/bin/dash']), []);
  });

  test('python: a touched standard library keeps the sources of its whole encodings package, not their bytecode', () => {
    const decoder = '/usr/lib/python3.11/json/decoder.py';
    const hits = pythonRules(fs, [decoder]);
    assert.deepEqual(
      hits.map((h) => h.path),
      [
        '/usr/lib/python3.11/json/__init__.py',
        '/usr/lib/python3.11/json/__pycache__/__init__.cpython-311.pyc',
        '/usr/lib/python3.11/encodings/__init__.py',
        '/usr/lib/python3.11/encodings/utf_8.py',
      ],
    );
    assert.equal(hits.find((h) => h.path.endsWith('encodings/utf_8.py'))!.from, '/usr/lib/python3.11');
    const extension = pythonRules(fs, ['/usr/lib/python3.11/lib-dynload/_json.cpython-311-x86_64-linux-gnu.so']).map((h) => h.path);
    assert.ok(extension.includes('/usr/lib/python3.11/encodings/utf_8.py'));
    assert.ok(!extension.some((p) => p.includes('/json/')));
  });
});

/** A small node app: two modules, a dependency with a package.json main, a lazy require, and files outside the graph. */
function writeNodeApp(root: string): void {
  writeIn(
    root,
    '/app/server.js',
    [
      "const a = require('./lib/a');",
      "const dep = require('dep');",
      'function lazy() {',
      "  return require('./lib/lazy');",
      '}',
      'module.exports = { a, dep, lazy };',
      '',
    ].join('\n'),
  );
  writeIn(root, '/app/lib/a.js', "module.exports = require('./config.json');\n");
  writeIn(root, '/app/lib/config.json', '{"name":"a"}\n');
  writeIn(root, '/app/lib/lazy.js', 'module.exports = 42;\n');
  writeIn(root, '/app/node_modules/dep/package.json', JSON.stringify({ name: 'dep', main: 'dist/entry.js' }));
  writeIn(root, '/app/node_modules/dep/dist/entry.js', "module.exports = require('./inner');\n");
  writeIn(root, '/app/node_modules/dep/dist/inner.js', 'module.exports = 1;\n');
  writeIn(root, '/app/node_modules/dep/index.js', 'module.exports = "not the main";\n');
  writeIn(root, '/app/node_modules/other/index.js', 'module.exports = 2;\n');
  writeIn(root, '/app/unused.js', "require('./lib/lazy');\n");
}

describe('traceNodeModules', () => {
  let fs: DirImageFs;
  before(() => {
    const root = newRoot('nft');
    writeNodeApp(root);
    fs = new DirImageFs(root);
  });

  test('follows the module graph in the image, lazy requires included, and nothing outside it', async () => {
    const { files } = await traceNodeModules(fs, ['/app/server.js'], '/app');
    for (const expected of [
      '/app/server.js',
      '/app/lib/a.js',
      '/app/lib/config.json',
      '/app/lib/lazy.js',
      '/app/node_modules/dep/package.json',
      '/app/node_modules/dep/dist/entry.js',
      '/app/node_modules/dep/dist/inner.js',
    ]) {
      assert.ok(files.includes(expected), `${expected} is in the graph: ${files.join(' ')}`);
    }
    for (const outside of ['/app/unused.js', '/app/node_modules/other/index.js', '/app/node_modules/dep/index.js']) {
      assert.ok(!files.includes(outside), `${outside} is not in the graph`);
    }
    assert.deepEqual(files, [...files].sort());
    assert.ok(files.every((f) => f.startsWith('/') && fs.lstat(f) !== undefined), 'only image paths that exist');
  });

  test('no entries, no files', async () => {
    assert.deepEqual(await traceNodeModules(fs, [], '/app'), { files: [], warnings: [] });
  });
});

describe('computeKeepSet', () => {
  let root: string;
  let fs: DirImageFs;
  /** what the ELF closure of dash must add: [symlinks..., real path] per object */
  let interpreterChain: string[];
  let libcChain: string[];
  let libcAccess: string;
  let lsOnlyLibraries: string[][];

  before(() => {
    root = newRoot('e2e');
    for (const top of ['bin', 'lib', 'lib64', 'sbin']) {
      // merged /usr, as the images slim meets have it (and the host too, on Debian 12)
      linkIn(root, `/${top}`, `usr/${top}`);
      dirIn(root, `/usr/${top}`);
    }
    mirrorHostPath('/usr/bin/dash', root);
    linkIn(root, '/usr/bin/sh', 'dash');
    const dash = lddPaths('/usr/bin/dash');
    assert.ok(dash.interpreter, 'ldd names the loader of dash');
    interpreterChain = mirrorHostPath(dash.interpreter!, root);
    const libc = dash.libraries.find((l) => /\/libc\.so/.test(l));
    assert.ok(libc, 'ldd names libc');
    libcAccess = libc!;
    libcChain = mirrorHostPath(libc!, root);
    for (const l of dash.libraries) mirrorHostPath(l, root);

    mirrorHostPath('/usr/bin/ls', root);
    const ls = lddPaths('/usr/bin/ls');
    const dashReal = new Set([...dash.libraries, dash.interpreter!].map((p) => realpathSync(p)));
    lsOnlyLibraries = ls.libraries.filter((l) => !dashReal.has(realpathSync(l))).map((l) => mirrorHostPath(l, root));

    writeIn(root, '/etc/passwd', 'root:x:0:0::/root:/bin/sh\n');
    writeIn(root, '/etc/hosts', '127.0.0.1 localhost\n');
    writeIn(root, '/app/run.sh', '#!/bin/sh -e\nexec cat /app/data.txt\n', 0o755);
    writeIn(root, '/app/data.txt', 'data');
    writeIn(root, '/app/other.txt', 'never touched');
    dirIn(root, '/tmp');
    writeIn(root, '/proc/cpuinfo', 'a file in the image where the kernel mounts /proc');
    writeIn(root, '/usr/share/doc/dash/copyright', 'c');
    writeIn(root, '/usr/share/doc/dash/changelog.gz', 'cl');
    writeIn(root, '/usr/share/zoneinfo/Europe/Paris', 'TZif');
    writeIn(root, '/usr/share/zoneinfo/Asia/Tokyo', 'TZif');
    writeIn(root, '/etc/ssl/certs/ca-certificates.crt', 'certs');
    fs = new DirImageFs(root);
  });

  function input(extra: Partial<ClosureInput> = {}): ClosureInput {
    return {
      fs,
      allPaths: allPaths(root),
      accesses: [
        { path: '/app/run.sh', kinds: ['open'], firstAt: 0.2 },
        { path: '/app/data.txt', kinds: ['stat'], firstAt: 0.5 },
        { path: '/app/data.txt', kinds: ['open'], firstAt: 0.3 },
        { path: libcAccess, kinds: ['open', 'mmap'], firstAt: 0.1 },
        { path: '/tmp/out.log', kinds: ['create', 'write'], firstAt: 0.6 },
        { path: '/proc/cpuinfo', kinds: ['open'], virtual: true },
        { path: '/etc/missing.conf', kinds: ['stat'] },
      ],
      execs: [{ path: '/app/run.sh', argv: ['/app/run.sh'] }],
      env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'TZ=Europe/Paris'],
      workingDir: '/app',
      argv: ['/app/run.sh'],
      ...extra,
    };
  }

  function reasons(result: ClosureResult, path: string): string[] | undefined {
    return result.keep.list().find((e) => e.path === path)?.reasons;
  }

  test('keeps what the run touched, the interpreter, its libraries, the symlinks passed and the system files', async () => {
    const result = await computeKeepSet(input());
    const keep = result.keep;
    assert.deepEqual(result.missingLibraries, []);
    assert.deepEqual(result.warnings, []);

    assert.deepEqual(reasons(result, '/app/run.sh'), ['traced-exec', 'traced-open']);
    assert.deepEqual(keep.get('/app/run.sh')!.firstAt, 0.2);
    assert.deepEqual(reasons(result, '/app/data.txt'), ['traced-open', 'traced-stat']);
    assert.equal(keep.get('/app/data.txt')!.firstAt, 0.3, 'the earliest access');

    // the shebang interpreter, through /bin -> usr/bin and sh -> dash
    assert.deepEqual(reasons(result, '/bin'), ['symlink']);
    assert.deepEqual(reasons(result, '/usr/bin/sh'), ['symlink']);
    assert.equal(keep.get('/usr/bin/sh')!.from, '/bin/sh');
    assert.deepEqual(reasons(result, '/usr/bin/dash'), ['shebang']);
    assert.equal(keep.get('/usr/bin/dash')!.from, '/app/run.sh');

    // the loader and libc, with every symlink on the way to them
    const loader = interpreterChain.at(-1)!;
    assert.ok(reasons(result, loader)!.includes('elf-interpreter'), `${loader}: ${reasons(result, loader)}`);
    for (const link of interpreterChain.slice(0, -1)) assert.ok(reasons(result, link)?.includes('symlink'), `${link} is kept as a symlink`);
    const libc = libcChain.at(-1)!;
    assert.deepEqual(reasons(result, libc), ['elf-needed', 'traced-mmap']);
    assert.equal(keep.get(libc)!.firstAt, 0.1);
    for (const link of libcChain.slice(0, -1)) assert.deepEqual(reasons(result, link), ['symlink']);
    assert.ok(keep.has('/lib'), 'the /lib directory symlink');

    // rules
    assert.deepEqual(reasons(result, '/etc/passwd'), ['rule']);
    assert.deepEqual(reasons(result, '/etc/hosts'), ['rule']);
    assert.deepEqual(reasons(result, '/usr/share/zoneinfo/Europe/Paris'), ['rule']);
    assert.equal(keep.get('/usr/share/zoneinfo/Europe/Paris')!.from, 'TZ');
    assert.equal(keep.has('/usr/share/zoneinfo/Asia/Tokyo'), false);
    assert.equal(keep.has('/etc/ssl/certs/ca-certificates.crt'), false, 'no TLS library is kept');

    // a file created at run time keeps its directory
    assert.deepEqual(reasons(result, '/tmp'), ['traced-stat']);
    assert.equal(keep.get('/tmp')!.from, '/tmp/out.log');
    assert.equal(keep.has('/tmp/out.log'), false);

    // not kept: virtual paths, failed lookups, untouched files, programs nobody ran
    assert.equal(keep.has('/proc/cpuinfo'), false);
    assert.equal(keep.has('/etc/missing.conf'), false);
    assert.equal(keep.has('/app/other.txt'), false);
    assert.equal(keep.has('/usr/share/doc/dash/copyright'), false);
    assert.equal(keep.has('/usr/bin/ls'), false);
    for (const chain of lsOnlyLibraries) assert.equal(keep.has(chain.at(-1)!), false);
  });

  test('the command alone (no traced exec) is kept with its interpreter and libraries', async () => {
    const result = await computeKeepSet(input({ accesses: [], execs: [] }));
    assert.deepEqual(reasons(result, '/app/run.sh'), ['traced-exec']);
    assert.deepEqual(reasons(result, '/usr/bin/dash'), ['shebang']);
    assert.ok(reasons(result, libcChain.at(-1)!)!.includes('elf-needed'));
    assert.ok(reasons(result, interpreterChain.at(-1)!)!.includes('elf-interpreter'));
  });

  test('--include adds matching paths, --exclude removes them, includes that match nothing warn', async () => {
    const result = await computeKeepSet(
      input({ include: ['/usr/share/doc/**', '/opt/nothing/**'], exclude: ['/etc/passwd', '/usr/share/zoneinfo/**', '/app/data.txt'] }),
    );
    const keep = result.keep;
    for (const path of ['/usr/share/doc/dash/copyright', '/usr/share/doc/dash/changelog.gz']) {
      assert.deepEqual(reasons(result, path), ['user-include']);
      assert.equal(keep.get(path)!.from, '/usr/share/doc/**');
    }
    assert.equal(keep.has('/etc/passwd'), false);
    assert.equal(keep.has('/usr/share/zoneinfo/Europe/Paris'), false);
    assert.equal(keep.has('/app/data.txt'), false, 'excludes win over traced files');
    assert.ok(keep.has('/etc/hosts'));
    assert.deepEqual(result.warnings, ['--include /opt/nothing/** matched nothing in the image']);
  });

  test('--include-exe adds a program found on PATH and its libraries; unknown programs warn', async () => {
    const result = await computeKeepSet(input({ includeExe: ['ls', 'no-such-tool'] }));
    assert.deepEqual(reasons(result, '/usr/bin/ls'), ['user-exe']);
    assert.ok(lsOnlyLibraries.length > 0, 'ls needs a library dash does not');
    const lsObjects = new Set(['/usr/bin/ls', ...lsOnlyLibraries.map((chain) => chain.at(-1)!)]);
    for (const chain of lsOnlyLibraries) {
      assert.deepEqual(reasons(result, chain.at(-1)!), ['elf-needed'], chain.at(-1));
      assert.ok(lsObjects.has(result.keep.get(chain.at(-1)!)!.from!), 'loaded by ls or by one of its libraries');
      for (const link of chain.slice(0, -1)) assert.ok(result.keep.has(link));
    }
    assert.deepEqual(result.warnings, ["--include-exe no-such-tool: not found on the image's PATH"]);
  });

  test('a node program: the module graph from its script is kept (nft)', async () => {
    const nodeRoot = newRoot('e2e-node');
    writeNodeApp(nodeRoot);
    writeIn(nodeRoot, '/usr/local/bin/node', 'a stand-in for node', 0o755);
    const nodeFs = new DirImageFs(nodeRoot);
    const result = await computeKeepSet({
      fs: nodeFs,
      allPaths: allPaths(nodeRoot),
      accesses: [{ path: '/app/server.js', kinds: ['open'] }],
      execs: [{ path: '/usr/local/bin/node', argv: ['node', './server.js'] }],
      env: ['PATH=/usr/local/bin:/usr/bin'],
      workingDir: '/app',
      argv: ['node', './server.js'],
    });
    assert.deepEqual(reasons(result, '/usr/local/bin/node'), ['traced-exec']);
    assert.deepEqual(reasons(result, '/app/server.js'), ['nft', 'traced-open']);
    assert.deepEqual(reasons(result, '/app/lib/lazy.js'), ['nft']);
    assert.equal(posix.normalize(result.keep.get('/app/lib/lazy.js')!.from!), '/app/server.js');
    assert.ok(result.keep.has('/app/node_modules/dep/dist/inner.js'));
    assert.equal(result.keep.has('/app/unused.js'), false);
    assert.equal(result.keep.has('/app/node_modules/other/index.js'), false);
  });
});
