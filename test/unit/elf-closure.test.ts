import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DirImageFs } from '../../src/closure/dir-image-fs.js';
import { elfClosure, expandTokens, type ElfClosure } from '../../src/closure/elf-closure.js';
import { defaultLibraryDirs, ldSoConfDirs, loaderFlavor, systemSearchDirs } from '../../src/closure/ld-config.js';
import { mirrorHostPath } from '../helpers/host-root.js';


/** `ldd` of a host file: the paths it loads (interpreter included) and the names it cannot find. */
function ldd(path: string, env: Record<string, string> = {}): { paths: string[]; missing: string[] } {
  let out: string;
  try {
    out = execFileSync('ldd', [path], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
  } catch (err) {
    out = String((err as { stdout?: string }).stdout ?? '');
  }
  const paths: string[] = [];
  const missing: string[] = [];
  for (const line of out.split('\n')) {
    let m: RegExpExecArray | null;
    if (/linux-vdso|linux-gate/.test(line)) continue;
    if ((m = /^\s*(\S+) => not found/.exec(line))) missing.push(m[1]!);
    else if ((m = /^\s*\S+ => (\/\S+) \(0x/.exec(line))) paths.push(posix.normalize(m[1]!));
    else if ((m = /^\s*(\/\S+) \(0x/.exec(line))) paths.push(posix.normalize(m[1]!));
  }
  return { paths, missing };
}

/**
 * What the closure of a binary inside `root` must be, from `ldd` run on the host: paths inside the root
 * are mapped into it (with their symlink target), host system paths are mirrored into the root.
 */
function expectedFromLdd(root: string, hostBinary: string, env: Record<string, string> = {}): { files: string[]; missing: string[] } {
  const { paths, missing } = ldd(hostBinary, env);
  const files = new Set<string>();
  for (const path of paths) {
    if (path.startsWith(`${root}/`)) {
      files.add(path.slice(root.length));
      files.add(realpathSync(path).slice(root.length));
    } else {
      for (const p of mirrorHostPath(path, root)) files.add(p);
    }
  }
  return { files: [...files].sort(), missing: missing.sort() };
}

function keys(closure: ElfClosure): string[] {
  return [...closure.files.keys()].sort();
}

function install(from: string, root: string, to: string): void {
  mkdirSync(dirname(join(root, to)), { recursive: true });
  copyFileSync(from, join(root, to));
}

function link(root: string, path: string, target: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  symlinkSync(target, join(root, path));
}

function write(root: string, path: string, content: string | Buffer): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), content);
}

/** A tiny 64- or 32-bit little-endian x86 ELF with an optional interpreter and a dynamic section. */
function tinyElf(o: { is64?: boolean; interpreter?: string; needed?: string[]; soname?: string; runpath?: string }): Buffer {
  const is64 = o.is64 ?? true;
  const [ehsize, phentsize, dynEntry, base] = is64 ? [64, 56, 16, 0x400000] : [52, 32, 8, 0x8048000];
  const strings = ['', ...(o.needed ?? []), o.soname ?? '', o.runpath ?? ''];
  const strtab = Buffer.from(`${strings.join('\0')}\0`);
  const offsetOf = (i: number) => strings.slice(0, i).reduce((sum, s) => sum + s.length + 1, 0);
  const entries: Array<[number, number]> = (o.needed ?? []).map((_, i) => [1, offsetOf(i + 1)] as [number, number]);
  const n = (o.needed ?? []).length;
  if (o.soname !== undefined) entries.push([14, offsetOf(n + 1)]);
  if (o.runpath !== undefined) entries.push([29, offsetOf(n + 2)]);
  const interp = Buffer.from(o.interpreter === undefined ? '' : `${o.interpreter}\0`);
  const interpAt = ehsize + 3 * phentsize;
  const strtabAt = interpAt + interp.length;
  const dynAt = Math.ceil((strtabAt + strtab.length) / 8) * 8;
  entries.push([5, base + strtabAt], [10, strtab.length], [0, 0]);
  const size = dynAt + entries.length * dynEntry;
  const buf = Buffer.alloc(size);
  const word = (v: number, at: number) => (is64 ? buf.writeBigUInt64LE(BigInt(v), at) : buf.writeUInt32LE(v, at));
  buf.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, 1, 1], 0);
  buf.writeUInt16LE(3, 16);
  buf.writeUInt16LE(is64 ? 62 : 3, 18);
  word(ehsize, is64 ? 32 : 28);
  buf.writeUInt16LE(phentsize, is64 ? 54 : 42);
  buf.writeUInt16LE(o.interpreter === undefined ? 2 : 3, is64 ? 56 : 44);
  const phdr = (i: number, type: number, offset: number, filesz: number) => {
    const at = ehsize + i * phentsize;
    buf.writeUInt32LE(type, at);
    const [off, vaddr, fsz] = is64 ? [8, 16, 32] : [4, 8, 16];
    word(offset, at + off);
    word(base + offset, at + vaddr);
    word(filesz, at + fsz);
  };
  phdr(0, 1, 0, size);
  phdr(1, 2, dynAt, entries.length * dynEntry);
  if (o.interpreter !== undefined) phdr(2, 3, interpAt, interp.length);
  interp.copy(buf, interpAt);
  strtab.copy(buf, strtabAt);
  entries.forEach(([tag, value], i) => {
    word(tag, dynAt + i * dynEntry);
    word(value, dynAt + i * dynEntry + dynEntry / 2);
  });
  return buf;
}

describe('elfClosure', () => {
  let tmp: string;
  let root: string;
  let src: string;
  let fs: DirImageFs;

  before(() => {
    tmp = realpathSync(mkdtempSync(join(tmpdir(), 'slim-elf-closure-')));
    root = join(tmp, 'root');
    src = join(tmp, 'src');
    mkdirSync(root);
    mkdirSync(src);
    const cc = (args: string[]) => execFileSync('gcc', args, { cwd: src, stdio: 'pipe' });
    const lib = (name: string, fn: string, soname: string, extra: string[] = [], calls?: string) => {
      const body = calls ? `int ${calls}(void);\nint ${fn}(void) { return ${calls}(); }\n` : `int ${fn}(void) { return 1; }\n`;
      writeFileSync(join(src, `${fn}.c`), body);
      cc(['-shared', '-fPIC', '-o', name, `${fn}.c`, `-Wl,-soname,${soname}`, ...extra]);
    };
    const exe = (name: string, calls: string, extra: string[]) => {
      writeFileSync(join(src, `${name}.c`), `int ${calls}(void);\nint main(void) { return ${calls}(); }\n`);
      cc(['-o', name, `${name}.c`, '-L.', ...extra]);
    };
    lib('libfoo.so.1.2', 'foo', 'libfoo.so.1');
    exe('app', 'foo', ['-l:libfoo.so.1.2']);
    lib('libgone.so.1', 'gone', 'libgone.so.1');
    exe('app-missing', 'gone', ['-l:libgone.so.1']);
    lib('libesc.so.1', 'esc', 'libesc.so.1');
    exe('app-escape', 'esc', ['-l:libesc.so.1']);
    lib('libbaz.so', 'baz', 'libbaz.so');
    lib('libbar.so', 'bar', 'libbar.so', ['-L.', '-lbaz', '-Wl,--enable-new-dtags', '-Wl,-rpath,$ORIGIN'], 'baz');
    exe('tool', 'bar', ['-lbar', '-Wl,--enable-new-dtags', '-Wl,-rpath,$ORIGIN/../lib', '-Wl,-rpath-link,.']);
    lib('libw.so', 'w', 'libw.so');
    lib('libq.so', 'q', 'libq.so', ['-L.', '-lw'], 'w');
    exe('exe-rpath', 'q', ['-lq', '-Wl,--disable-new-dtags', '-Wl,-rpath,$ORIGIN/lib', '-Wl,-rpath-link,.']);
    exe('exe-runpath', 'q', ['-lq', '-Wl,--enable-new-dtags', '-Wl,-rpath,$ORIGIN/lib', '-Wl,-rpath-link,.']);

    // the system part of the image: ls and what it loads, mirrored from this host
    mirrorHostPath('/bin/ls', root);
    for (const path of ldd('/bin/ls').paths) mirrorHostPath(path, root);
    write(root, '/etc/ld.so.conf', '# system libraries\ninclude /etc/ld.so.conf.d/*.conf\n');
    write(root, '/etc/ld.so.conf.d/foo.conf', '/opt/foo/lib   # foo\n');
    write(root, '/etc/ld.so.conf.d/libc.conf', '# libc default configuration\n/usr/local/lib\n');
    write(root, '/etc/ld.so.conf.d/x86_64-linux-gnu.conf', '/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/\n');
    write(root, '/etc/ld.so.conf.d/README', '/not/a/conf/dir\n');

    install(join(src, 'app'), root, '/usr/local/bin/app');
    install(join(src, 'libfoo.so.1.2'), root, '/opt/foo/lib/libfoo.so.1.2');
    link(root, '/opt/foo/lib/libfoo.so.1', 'libfoo.so.1.2');
    link(root, '/opt/foo/lib/libfoo.so', 'libfoo.so.1');

    install(join(src, 'app-missing'), root, '/usr/local/bin/app-missing');

    install(join(src, 'app-escape'), root, '/usr/local/bin/app-escape');
    install(join(src, 'libesc.so.1'), tmp, '/outside/libesc.so.1');
    link(root, '/opt/esc/libesc.so.1', join(tmp, 'outside/libesc.so.1'));
    link(root, '/opt/esc2/libesc.so.1', `${'../'.repeat(30)}${join(tmp, 'outside/libesc.so.1').slice(1)}`);

    install(join(src, 'tool'), root, '/opt/app/bin/tool');
    install(join(src, 'libbar.so'), root, '/opt/app/lib/libbar.so');
    install(join(src, 'libbaz.so'), root, '/opt/app/lib/libbaz.so');
    link(root, '/usr/local/bin/tool', '/opt/app/bin/tool');

    install(join(src, 'exe-rpath'), root, '/opt/r/exe-rpath');
    install(join(src, 'exe-runpath'), root, '/opt/r/exe-runpath');
    install(join(src, 'libq.so'), root, '/opt/r/lib/libq.so');
    install(join(src, 'libw.so'), root, '/opt/r/lib/libw.so');
    install(join(src, 'libq.so'), root, '/opt/alt/libq.so');

    fs = new DirImageFs(root);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('ls in an image: what ldd loads, the interpreter, and every symlink on the way', async () => {
    const closure = await elfClosure(['/bin/ls'], fs, {});
    const expected = expectedFromLdd(root, '/bin/ls');
    assert.deepEqual(keys(closure), expected.files);
    assert.deepEqual(closure.missing, []);
    assert.deepEqual(closure.problems, []);
    // the loader path of ls goes through /lib64 -> usr/lib64 and an absolute symlink, kept with the interpreter's reason
    assert.deepEqual(closure.files.get('/usr/lib64/ld-linux-x86-64.so.2'), { reason: 'elf-interpreter', from: '/bin/ls' });
    assert.deepEqual(closure.files.get('/lib64'), { reason: 'elf-interpreter', from: '/bin/ls' });
    const libc = [...closure.files].find(([path]) => path.endsWith('/libc.so.6'));
    assert.equal(libc?.[1].reason, 'elf-needed');
    assert.ok(!keys(closure).includes('/bin/ls') && !keys(closure).includes('/usr/bin/ls'), 'roots are not part of the closure');
  });

  test('a library found through an ld.so.conf include, by its SONAME symlink', async () => {
    const closure = await elfClosure(['/usr/local/bin/app'], fs, {});
    assert.deepEqual(closure.files.get('/opt/foo/lib/libfoo.so.1'), { reason: 'elf-needed', from: '/usr/local/bin/app' });
    assert.deepEqual(closure.files.get('/opt/foo/lib/libfoo.so.1.2'), { reason: 'elf-needed', from: '/usr/local/bin/app' });
    assert.ok(!closure.files.has('/opt/foo/lib/libfoo.so'), 'the development symlink is not needed');
    const system = expectedFromLdd(root, '/bin/ls').files.filter((p) => /ld-linux|libc\.so|^\/lib(64)?$/.test(p));
    assert.deepEqual(keys(closure), [...system, '/opt/foo/lib/libfoo.so.1', '/opt/foo/lib/libfoo.so.1.2'].sort());
    assert.deepEqual(closure.missing, []);
  });

  test('the ld.so.conf directories: includes by glob, comments, several per line', async () => {
    assert.deepEqual(await ldSoConfDirs(fs), [
      '/opt/foo/lib',
      '/usr/local/lib',
      '/usr/local/lib/x86_64-linux-gnu',
      '/lib/x86_64-linux-gnu',
      '/usr/lib/x86_64-linux-gnu',
    ]);
  });

  test('a library nowhere in the image is reported missing, like ldd does', async () => {
    const closure = await elfClosure(['/usr/local/bin/app-missing'], fs, {});
    assert.deepEqual(closure.missing, [{ name: 'libgone.so.1', from: '/usr/local/bin/app-missing' }]);
    const expected = expectedFromLdd(root, join(root, 'usr/local/bin/app-missing'));
    assert.deepEqual(expected.missing, ['libgone.so.1']);
    assert.deepEqual(keys(closure), expected.files);
  });

  test('$ORIGIN in RUNPATH of the executable (started through a symlink) and of a library', async () => {
    const viaLink = await elfClosure(['/usr/local/bin/tool'], fs, {});
    const direct = await elfClosure(['/opt/app/bin/tool'], fs, {});
    const expected = expectedFromLdd(root, join(root, 'opt/app/bin/tool'));
    assert.ok(expected.files.includes('/opt/app/lib/libbaz.so'), 'ldd finds libbaz through libbar\'s $ORIGIN');
    assert.deepEqual(keys(direct), expected.files);
    assert.deepEqual(keys(viaLink), expected.files);
    assert.deepEqual(viaLink.missing, []);
    assert.deepEqual(viaLink.files.get('/opt/app/lib/libbaz.so'), { reason: 'elf-needed', from: '/opt/app/lib/libbar.so' });
  });

  test('DT_RPATH is inherited by libraries, DT_RUNPATH is not (as ldd sees it)', async () => {
    const rpath = await elfClosure(['/opt/r/exe-rpath'], fs, {});
    const rpathExpected = expectedFromLdd(root, join(root, 'opt/r/exe-rpath'));
    assert.deepEqual(keys(rpath), rpathExpected.files);
    assert.ok(rpath.files.has('/opt/r/lib/libw.so'));
    assert.deepEqual(rpath.missing, []);

    const runpath = await elfClosure(['/opt/r/exe-runpath'], fs, {});
    const runpathExpected = expectedFromLdd(root, join(root, 'opt/r/exe-runpath'));
    assert.deepEqual(runpathExpected.missing, ['libw.so']);
    assert.deepEqual(keys(runpath), runpathExpected.files);
    assert.deepEqual(runpath.missing, [{ name: 'libw.so', from: '/opt/r/lib/libq.so' }]);
  });

  test('LD_LIBRARY_PATH from the image env: after DT_RPATH, before DT_RUNPATH', async () => {
    const env = ['PATH=/usr/bin', 'LD_LIBRARY_PATH=/opt/alt'];
    const hostEnv = { LD_LIBRARY_PATH: join(root, 'opt/alt') };
    const rpath = await elfClosure(['/opt/r/exe-rpath'], fs, { env });
    assert.deepEqual(keys(rpath), expectedFromLdd(root, join(root, 'opt/r/exe-rpath'), hostEnv).files);
    assert.ok(rpath.files.has('/opt/r/lib/libq.so') && !rpath.files.has('/opt/alt/libq.so'));

    const runpath = await elfClosure(['/opt/r/exe-runpath'], fs, { env });
    assert.deepEqual(keys(runpath), expectedFromLdd(root, join(root, 'opt/r/exe-runpath'), hostEnv).files);
    assert.ok(runpath.files.has('/opt/alt/libq.so') && !runpath.files.has('/opt/r/lib/libq.so'));
  });

  test('symlinks pointing out of the root resolve inside it, never on the host', async () => {
    assert.ok(existsSync(join(root, 'opt/esc/libesc.so.1')), 'on the host, the absolute symlink does reach a file');
    assert.ok(existsSync(join(root, 'opt/esc2/libesc.so.1')), 'on the host, the ../ symlink does reach a file');
    const closure = await elfClosure(['/usr/local/bin/app-escape'], fs, { env: ['LD_LIBRARY_PATH=/opt/esc:/opt/esc2'] });
    assert.deepEqual(closure.missing, [{ name: 'libesc.so.1', from: '/usr/local/bin/app-escape' }]);
    assert.ok(keys(closure).every((p) => !p.includes('outside') && !p.startsWith('/opt/esc')));
  });

  test('several roots: one map in load order, first reason wins, nothing twice', async () => {
    const closure = await elfClosure(['/bin/ls', '/usr/local/bin/app', '/does/not/exist'], fs, {});
    const order = [...closure.files.keys()];
    assert.ok(order.indexOf('/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2') < order.indexOf('/opt/foo/lib/libfoo.so.1'));
    assert.equal(closure.files.get('/opt/foo/lib/libfoo.so.1.2')?.from, '/usr/local/bin/app');
    assert.equal(closure.files.get('/lib64')?.from, '/bin/ls');
    assert.deepEqual(closure.problems, ['/does/not/exist: not a regular file in the image']);
  });

  test('on the host itself (DirImageFs over /), ls and node need what ldd says', async () => {
    const host = new DirImageFs('/');
    for (const binary of ['/bin/ls', '/usr/bin/node']) {
      const closure = await elfClosure([binary], host, { env: [] });
      const expected = new Set<string>();
      for (const path of ldd(binary).paths) {
        const resolved = host.resolve(path);
        for (const p of [...resolved.links, resolved.path]) expected.add(p);
        assert.equal(resolved.path, realpathSync(path), `${path} resolves like the host kernel`);
      }
      assert.deepEqual(keys(closure), [...expected].sort(), binary);
      assert.deepEqual(closure.missing, []);
    }
  });
});

describe('elfClosure with musl (synthetic ELF files)', () => {
  let root: string;
  before(() => {
    root = realpathSync(mkdtempSync(join(tmpdir(), 'slim-musl-closure-')));
    write(root, '/lib/ld-musl-x86_64.so.1', tinyElf({ soname: 'libc.so' }));
    link(root, '/lib/libc.musl-x86_64.so.1', 'ld-musl-x86_64.so.1');
    write(root, '/usr/bin/prog', tinyElf({ interpreter: '/lib/ld-musl-x86_64.so.1', needed: ['libz.so.1', 'libextra.so', 'libc.musl-x86_64.so.1'] }));
    write(root, '/usr/lib/libz.so.1.3', tinyElf({ soname: 'libz.so.1', needed: ['libc.musl-x86_64.so.1', 'libpthread.so.0'] }));
    link(root, '/usr/lib/libz.so.1', 'libz.so.1.3');
    write(root, '/opt/lib32/libz.so.1', tinyElf({ is64: false, soname: 'libz.so.1' }));
    write(root, '/opt/extra/libextra.so', tinyElf({ soname: 'libextra.so', needed: ['libnothere.so'] }));
    write(root, '/etc/ld-musl-x86_64.path', '/opt/extra\n/lib:/usr/lib\n');
    // musl ignores ld.so.conf
    write(root, '/etc/ld.so.conf', '/opt/lib32\n');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('path file, builtin libc names, other-class candidates skipped', async () => {
    const fs = new DirImageFs(root);
    const closure = await elfClosure(['/usr/bin/prog'], fs, { env: ['LD_LIBRARY_PATH=/opt/lib32'] });
    assert.deepEqual([...closure.files], [
      ['/lib/ld-musl-x86_64.so.1', { reason: 'elf-interpreter', from: '/usr/bin/prog' }],
      ['/usr/lib/libz.so.1', { reason: 'elf-needed', from: '/usr/bin/prog' }],
      ['/usr/lib/libz.so.1.3', { reason: 'elf-needed', from: '/usr/bin/prog' }],
      ['/opt/extra/libextra.so', { reason: 'elf-needed', from: '/usr/bin/prog' }],
      ['/lib/libc.musl-x86_64.so.1', { reason: 'elf-needed', from: '/usr/bin/prog' }],
    ]);
    assert.deepEqual(closure.missing, [{ name: 'libnothere.so', from: '/opt/extra/libextra.so' }]);
  });

  test('search directories: the path file replaces the defaults', async () => {
    const fs = new DirImageFs(root);
    const dirs = await systemSearchDirs(fs, '/lib/ld-musl-x86_64.so.1');
    assert.equal(dirs.flavor.libc, 'musl');
    assert.deepEqual(dirs.configured, []);
    assert.deepEqual(dirs.defaults, ['/opt/extra', '/lib', '/usr/lib']);
    const other = await systemSearchDirs(fs, '/lib/ld-musl-aarch64.so.1');
    assert.deepEqual(other.defaults, ['/lib', '/usr/local/lib', '/usr/lib']);
  });
});

describe('ld-config', () => {
  test('glibc vs musl from the interpreter name, and the default directories', () => {
    assert.equal(loaderFlavor('/lib64/ld-linux-x86-64.so.2').libc, 'glibc');
    assert.equal(loaderFlavor('/lib/ld-musl-aarch64.so.1').libc, 'musl');
    assert.equal(loaderFlavor('/lib/ld-musl-aarch64.so.1').arch, 'aarch64');
    assert.deepEqual(defaultLibraryDirs(loaderFlavor('/lib64/ld-linux-x86-64.so.2')), [
      '/lib/x86_64-linux-gnu',
      '/usr/lib/x86_64-linux-gnu',
      '/lib64',
      '/usr/lib64',
      '/lib',
      '/usr/lib',
    ]);
    assert.deepEqual(defaultLibraryDirs(loaderFlavor('/lib/ld-musl-x86_64.so.1')), ['/lib', '/usr/local/lib', '/usr/lib']);
  });

  test('$ORIGIN, ${ORIGIN}, $LIB and $PLATFORM expansion', () => {
    const glibc = loaderFlavor('/lib64/ld-linux-x86-64.so.2');
    assert.deepEqual(expandTokens('$ORIGIN/../lib', '/opt/app/bin', glibc), ['/opt/app/bin/../lib']);
    assert.deepEqual(expandTokens('${ORIGIN}/x:$ORIGINAL', '/o', glibc), ['/o/x:$ORIGINAL']);
    assert.deepEqual(expandTokens('/usr/$LIB/${PLATFORM}', '/o', glibc), ['/usr/lib/x86_64-linux-gnu/x86_64', '/usr/lib64/x86_64']);
    assert.deepEqual(expandTokens('/usr/$LIB', '/o', loaderFlavor('/lib/ld-musl-x86_64.so.1')), ['/usr/$LIB']);
  });
});

describe('DirImageFs', () => {
  let tmp: string;
  let root: string;
  before(() => {
    tmp = realpathSync(mkdtempSync(join(tmpdir(), 'slim-dir-image-fs-')));
    root = join(tmp, 'root');
    write(root, '/usr/lib/libx.so.1.0', 'x-content');
    link(root, '/usr/lib/libx.so.1', '/usr/lib/libx.so.1.0');
    link(root, '/lib', 'usr/lib');
    link(root, '/etc-host', '/etc');
    link(root, '/up', '../../../../../..');
    link(root, '/loop/a', 'b');
    link(root, '/loop/b', 'a');
    link(root, '/loop/self', 'self');
    write(root, '/etc/only-in-image', 'image');
    write(tmp, '/secret', 'host secret');
    link(root, '/secret-abs', join(tmp, 'secret'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('resolves absolute and relative symlinks inside the root, recording the chain', () => {
    const fs = new DirImageFs(root);
    const resolved = fs.resolve('/lib/libx.so.1');
    assert.equal(resolved.path, '/usr/lib/libx.so.1.0');
    assert.deepEqual(resolved.links, ['/lib', '/usr/lib/libx.so.1']);
    assert.equal(resolved.record?.type, 'file');
    assert.equal(resolved.record?.path, 'usr/lib/libx.so.1.0');
    assert.equal(resolved.record?.size, 'x-content'.length);
    assert.equal(resolved.record?.layer, 0);
    // `..` applies to the resolved directory, as in the kernel: /lib/.. is /usr
    assert.equal(fs.resolve('/lib/../lib/libx.so.1.0').path, '/usr/lib/libx.so.1.0');
    assert.equal(fs.resolve('/lib/../bin').path, '/usr/bin');
  });

  test('never reaches the host: absolute targets, .. at the root, intermediate links', async () => {
    const fs = new DirImageFs(root);
    assert.equal(fs.resolve('/secret-abs').record, undefined);
    assert.equal(await fs.readFile('/secret-abs'), undefined);
    assert.equal(await fs.open('/secret-abs'), undefined);
    assert.equal(fs.resolve('/up').path, '/');
    assert.equal(fs.resolve(`/up${tmp}/secret`).record, undefined);
    assert.equal(fs.resolve('/../../..').path, '/');
    assert.deepEqual(fs.list('/etc-host'), ['only-in-image']);
    assert.equal(fs.lstat('/etc-host/hostname'), undefined);
    assert.equal(fs.lstat('/etc-host/only-in-image')?.path, 'etc/only-in-image');
    assert.equal((await fs.readFile('/etc-host/only-in-image'))?.toString(), 'image');
  });

  test('loops give an unresolved result', () => {
    const fs = new DirImageFs(root);
    assert.equal(fs.resolve('/loop/a').record, undefined);
    assert.equal(fs.resolve('/loop/self/x').record, undefined);
  });

  test('lstat does not follow the final symlink; list is sorted; open reads positionally', async () => {
    const fs = new DirImageFs(root);
    const record = fs.lstat('/lib/libx.so.1');
    assert.equal(record?.type, 'symlink');
    assert.equal(record?.linkTarget, '/usr/lib/libx.so.1.0');
    assert.equal(record?.path, 'usr/lib/libx.so.1');
    assert.equal(fs.lstat('/')?.type, 'directory');
    assert.deepEqual(fs.list('/lib'), ['libx.so.1', 'libx.so.1.0']);
    assert.deepEqual(fs.list('/usr/lib/libx.so.1.0'), []);
    const file = await fs.open('/lib/libx.so.1');
    assert.equal(file?.size, 9);
    assert.equal((await file!.read(2, 100)).toString(), 'content');
    assert.equal((await file!.read(50, 10)).length, 0);
    assert.equal(await fs.open('/usr'), undefined);
  });
});
