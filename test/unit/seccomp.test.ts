import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ExitCode, SlimError } from '../../src/errors.js';
import {
  BASELINE_GROUPS,
  BASELINE_SYSCALLS,
  checkSeccompDestination,
  readSeccompFile,
  renderSeccompProfile,
  seccompProfile,
  writeSeccompFile,
} from '../../src/security/seccomp.js';
import { buildProfile } from '../../src/trace/profile.js';
import { sensorCommand, TRACED_SYSCALLS } from '../../src/trace/sensor.js';
import { newParseStats, parseStrace, syscallNames } from '../../src/trace/strace-parser.js';

/** What a function must never be allowed unless its run made them: they escape or reconfigure the sandbox. */
const DANGEROUS = [
  'mount',
  'umount2',
  'ptrace',
  'kexec_load',
  'kexec_file_load',
  'bpf',
  'unshare',
  'setns',
  'pivot_root',
  'chroot',
  'init_module',
  'finit_module',
  'delete_module',
  'open_by_handle_at',
  'perf_event_open',
  'userfaultfd',
  'keyctl',
  'add_key',
  'reboot',
  'swapon',
];

/** A synthetic trace with every shape a syscall line takes, as `strace -f -ttt -qq -y -e trace=all` writes them. */
const TRACE = [
  '9     1795734548.334657 execve("/usr/bin/node", ["node", "server.js"], 0x7fff845d9150 /* 6 vars */) = 0',
  '9     1795734548.336510 brk(NULL)       = 0x55f2e60c5000',
  '9     1795734548.337000 access("/etc/ld.so.preload", R_OK) = -1 ENOENT (No such file or directory)',
  '9     1795734548.338000 openat(AT_FDCWD</app>, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3</etc/ld.so.cache>',
  '9     1795734548.339000 mkdir("/app/cache", 0755) = -1 EACCES (Permission denied)',
  '9     1795734548.340000 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD, exit_signal=0, stack=0x7f, stack_size=0x7fff00} <unfinished ...>',
  '10    1795734548.340100 rseq(0x7f1, 0x20, 0, 0x53053053 <unfinished ...>',
  '9     1795734548.340200 <... clone3 resumed> => {parent_tid=[10]}, 88) = 10',
  '10    1795734548.340300 <... rseq resumed>) = 0',
  '10    1795734548.340400 futex(0x7f2, FUTEX_WAIT_PRIVATE, 0, NULL <unfinished ...>',
  '11    1795734548.340500 <... epoll_pwait resumed>[], 1024, 0, NULL, 8) = 0',
  '9     1795734548.341000 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=12, si_uid=0, si_status=0} ---',
  '9     1795734548.342000 syscall_0x1c4(0xffffff9c, 0x7ffd, 0x1a4, 0x100) = -1 ENOSYS (Function not implemented)',
  '12    1795734548.343000 +++ exited with 0 +++',
  '9     1795734548.344000 epoll_wait(13<anon_inode:[eventpoll]>,  <detached ...>',
  '',
].join('\n');

describe('seccomp profile', () => {
  test('the Docker profile shape: EPERM by default, x86-64 with its 32-bit ABIs, one sorted allow rule', () => {
    const { profile, names } = seccompProfile(['read', 'write', 'openat']);
    assert.deepEqual(Object.keys(profile), ['defaultAction', 'defaultErrnoRet', 'archMap', 'syscalls']);
    assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(profile.defaultErrnoRet, 1);
    assert.deepEqual(profile.archMap, [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }]);
    assert.equal(profile.syscalls.length, 1);
    assert.equal(profile.syscalls[0]!.action, 'SCMP_ACT_ALLOW');
    assert.deepEqual(profile.syscalls[0]!.names, names);
    assert.deepEqual(names, [...new Set(names)].sort(), 'sorted, no duplicates');
    for (const name of ['read', 'write', 'openat']) assert.ok(names.includes(name), name);
  });

  test('deterministic: the same names in any order, repeated or not, give the same text', () => {
    const seen = ['socket', 'bind', 'listen', 'accept4', 'epoll_wait', 'read', 'write'];
    const text = renderSeccompProfile(seccompProfile(seen).profile);
    assert.equal(renderSeccompProfile(seccompProfile([...seen].reverse()).profile), text);
    assert.equal(renderSeccompProfile(seccompProfile([...seen, ...seen]).profile), text);
    assert.equal(renderSeccompProfile(seccompProfile(new Set(seen)).profile), text);
    assert.ok(text.endsWith('}\n'));
    assert.deepEqual(JSON.parse(text), seccompProfile(seen).profile);
  });

  test('the baseline is always there, and is small', () => {
    const empty = seccompProfile([]);
    assert.deepEqual(empty.names, [...BASELINE_SYSCALLS]);
    assert.deepEqual([...BASELINE_SYSCALLS], [...new Set(BASELINE_GROUPS.flatMap((g) => g.names))].sort());
    for (const name of ['execve', 'exit_group', 'exit', 'rt_sigreturn', 'futex', 'capset', 'setuid', 'setgid', 'setgroups', 'prctl', 'chdir', 'fstatfs', 'getdents64']) {
      assert.ok(empty.names.includes(name), `baseline has ${name}`);
    }
    assert.ok(BASELINE_SYSCALLS.length < 50, `baseline of ${BASELINE_SYSCALLS.length} names`);
    for (const group of BASELINE_GROUPS) assert.ok(group.why.length > 10 && group.names.length > 0);
    const traced = seccompProfile(['socket', 'listen']);
    for (const name of BASELINE_SYSCALLS) assert.ok(traced.names.includes(name), name);
  });

  test('calls made only when timing says so are allowed though the traced run never made them', () => {
    // a media-transcode run whose ffmpeg children had all exited by Python's first wait4(WNOHANG):
    // no clock_nanosleep in the trace, and the next run's time.sleep in subprocess.wait got EPERM
    const trace = [
      '17    1795746490.592008 wait4(18, [{WIFEXITED(s) && WEXITSTATUS(s) == 0}], WNOHANG, NULL) = 18',
      '17    1795746490.593245 close(6<pipe:[746150]>) = 0',
    ];
    const { names } = seccompProfile(syscallNames(parseStrace(trace)));
    for (const name of ['wait4', 'close', 'clock_nanosleep', 'nanosleep', 'sched_yield', 'madvise']) assert.ok(names.includes(name), name);
  });

  test('a resource the run took may be released at exit, which the trace never sees', () => {
    const withKey = seccompProfile(['pkey_alloc', 'pkey_mprotect', 'timer_create']);
    for (const name of ['pkey_free', 'timer_delete']) assert.ok(withKey.names.includes(name), name);
    const without = seccompProfile(['read']);
    for (const name of ['pkey_free', 'timer_delete', 'inotify_rm_watch']) assert.ok(!without.names.includes(name), `${name} only with its acquirer`);
  });

  test('dangerous syscalls are allowed only when the run made them', () => {
    const { names } = seccompProfile(['read', 'write', 'mmap', 'clone3', 'socket', 'accept4']);
    for (const name of DANGEROUS) assert.ok(!names.includes(name), `${name} is not allowed`);
    assert.ok(seccompProfile(['ptrace']).names.includes('ptrace'), 'a traced name is allowed, whatever it is');
  });

  test('names strace could not resolve are left out with a warning', () => {
    const result = seccompProfile(['read', 'syscall_0x1c4', 'syscall_0x1c4']);
    assert.ok(!result.names.includes('syscall_0x1c4'));
    assert.deepEqual(result.unknown, ['syscall_0x1c4']);
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0]!, /syscall_0x1c4/);
    assert.deepEqual(seccompProfile(['read']).warnings, []);
  });
});

describe('collecting syscall names from a trace', () => {
  test('failed, unfinished, resumed, orphan-resumed and detached syscalls are all named; signals and exits are not', () => {
    const stats = newParseStats();
    const events = parseStrace(TRACE, stats);
    const expected = [
      'access',
      'brk',
      'clone3',
      'epoll_pwait',
      'epoll_wait',
      'execve',
      'futex',
      'mkdir',
      'openat',
      'rseq',
      'syscall_0x1c4',
    ];
    assert.deepEqual(syscallNames(events), expected);
    assert.equal(stats.garbage, 0, 'the detached line is a syscall left unfinished, not garbage');
    assert.equal(stats.orphanResumed, 1);
    assert.equal(stats.incomplete, 2, 'futex and epoll_wait never ended');
    // the profile counts the same names, so a build's seccomp profile sees them all
    const profile = buildProfile(events, { initialCwd: '/app' });
    assert.deepEqual(Object.keys(profile.syscalls).sort(), expected);
    // and the file accesses are what the file syscalls alone say
    assert.deepEqual([...profile.accesses.keys()], ['/etc/ld.so.cache', '/usr/bin/node']);
    assert.deepEqual([...profile.failures.keys()], ['/app/cache', '/etc/ld.so.preload']);
    const { names, unknown } = seccompProfile(syscallNames(events));
    for (const name of expected.filter((n) => n !== 'syscall_0x1c4')) assert.ok(names.includes(name), name);
    assert.deepEqual(unknown, ['syscall_0x1c4']);
  });

  test('the sensor traces every syscall only when asked to', () => {
    const sensor = { strace: '/usr/bin/strace', libraries: [] };
    const filtered = sensorCommand(sensor, ['node', 'server.js']);
    assert.ok(filtered.includes(`trace=${TRACED_SYSCALLS}`));
    const all = sensorCommand(sensor, ['node', 'server.js'], { allSyscalls: true });
    assert.ok(all.includes('trace=all'));
    assert.deepEqual(all.slice(-3), ['--', 'node', 'server.js']);
    assert.deepEqual(all.filter((a) => !a.startsWith('trace=')), filtered.filter((a) => !a.startsWith('trace=')));
  });
});

describe('seccomp profile files', () => {
  const dirs: string[] = [];
  const dir = async () => {
    const path = await mkdtemp(join(tmpdir(), 'slim-seccomp-unit-'));
    dirs.push(path);
    return path;
  };
  after(async () => {
    for (const path of dirs) await rm(path, { recursive: true, force: true });
  });

  const oneLine = (code: number) => (err: unknown) => {
    assert.ok(err instanceof SlimError, String(err));
    assert.equal(err.exitCode, code);
    assert.ok(!err.message.includes('\n'), err.message);
    return true;
  };

  test('written atomically: the whole text, no temporary file left, an old profile replaced', async () => {
    const d = await dir();
    const file = join(d, 'profile.json');
    await writeFile(file, 'old');
    const text = renderSeccompProfile(seccompProfile(['read']).profile);
    await writeSeccompFile(file, text);
    assert.equal(await readFile(file, 'utf8'), text);
    assert.deepEqual(await readdir(d), ['profile.json']);
  });

  test('an unwritable destination is a one-line error, found before any work', async () => {
    const d = await dir();
    await assert.rejects(checkSeccompDestination(join(d, 'missing', 'profile.json')), oneLine(ExitCode.usage));
    await assert.rejects(checkSeccompDestination(d), oneLine(ExitCode.usage));
    await checkSeccompDestination(join(d, 'profile.json'));
    await assert.rejects(writeSeccompFile(join(d, 'missing', 'profile.json'), '{}\n'), oneLine(ExitCode.usage));
    await assert.rejects(writeSeccompFile(d, '{}\n'), oneLine(ExitCode.usage));
    assert.deepEqual(await readdir(d), []);
  });

  test('--seccomp reads a profile and passes its JSON text on', async () => {
    const d = await dir();
    const file = join(d, 'profile.json');
    const { profile } = seccompProfile(['read']);
    await writeSeccompFile(file, renderSeccompProfile(profile));
    assert.deepEqual(JSON.parse(await readSeccompFile(file)), profile);
    assert.ok(!(await readSeccompFile(file)).includes('\n'));
    await assert.rejects(readSeccompFile(join(d, 'none.json')), oneLine(ExitCode.input));
    await writeFile(join(d, 'bad.json'), '{not json');
    await assert.rejects(readSeccompFile(join(d, 'bad.json')), (err: unknown) => err instanceof SlimError && err.exitCode === ExitCode.input);
    await writeFile(join(d, 'array.json'), '[]');
    await assert.rejects(readSeccompFile(join(d, 'array.json')), (err: unknown) => err instanceof SlimError && err.exitCode === ExitCode.input);
  });
});
