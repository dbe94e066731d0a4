import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { buildProfile, normalizePath, profileToJson, type Profile, type ProfileOptions } from '../../src/trace/profile.js';
import {
  decodeQuoted,
  newParseStats,
  parseFdArg,
  parseStrace,
  parseStraceLine,
  splitArgs,
  type ParseStats,
} from '../../src/trace/strace-parser.js';

/**
 * One folder per case under test/unit/strace-cases/: `trace.txt` (strace output) and `expected.json`,
 * whose keys are all optional:
 * - options: ProfileOptions for buildProfile
 * - accesses / failures: every access (path → kinds) / failure (path → errno), exactly
 * - accessesInclude / failuresInclude: the same, for some paths only
 * - absent: paths in neither accesses nor failures
 * - virtual: the paths flagged virtual, exactly
 * - firstAt: path → seconds since the start
 * - timeline: key → seconds since the first event (listenPort: the port); null = not seen
 * - processes: pid → the listed fields of its ProcessInfo (execs without times; null = absent); processCount
 * - syscalls: name → count, for the listed names
 * - unresolved, parse (ParseStats fields and `events`)
 */
interface Expected {
  description?: string;
  options?: ProfileOptions;
  accesses?: Record<string, string[]>;
  accessesInclude?: Record<string, string[]>;
  failures?: Record<string, string>;
  failuresInclude?: Record<string, string>;
  absent?: string[];
  virtual?: string[];
  firstAt?: Record<string, number>;
  timeline?: Record<string, number | null>;
  processes?: Record<string, Record<string, unknown>>;
  processCount?: number;
  syscalls?: Record<string, number>;
  unresolved?: number;
  parse?: Partial<ParseStats> & { events?: number };
}

const casesDir = new URL('../../../test/unit/strace-cases/', import.meta.url);

function kindsOf(map: Profile['accesses'] | Profile['failures']): Record<string, string[]> {
  return Object.fromEntries([...map.values()].map((a) => [a.path, a.kinds]));
}

function errnosOf(profile: Profile): Record<string, string> {
  return Object.fromEntries([...profile.failures.values()].map((f) => [f.path, f.errno]));
}

/** the listed keys of a record, with undefined as null (so expected.json can say "absent") */
function pick(record: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, record[k] ?? null]));
}

function checkCase(profile: Profile, stats: ParseStats, eventCount: number, expected: Expected): void {
  const kinds = kindsOf(profile.accesses);
  if (expected.accesses) assert.deepEqual(kinds, sortedKinds(expected.accesses), 'accesses');
  if (expected.accessesInclude) assert.deepEqual(pick(kinds, Object.keys(expected.accessesInclude)), sortedKinds(expected.accessesInclude), 'accessesInclude');
  const errnos = errnosOf(profile);
  if (expected.failures) assert.deepEqual(errnos, expected.failures, 'failures');
  if (expected.failuresInclude) assert.deepEqual(pick(errnos, Object.keys(expected.failuresInclude)), expected.failuresInclude, 'failuresInclude');
  for (const path of expected.absent ?? []) {
    assert.ok(!profile.accesses.has(path) && !profile.failures.has(path), `${path} should not be recorded`);
  }
  if (expected.virtual) {
    const flagged = [...profile.accesses.values(), ...profile.failures.values()].filter((a) => a.virtual).map((a) => a.path);
    assert.deepEqual(flagged.sort(), [...expected.virtual].sort(), 'virtual');
  }
  for (const [path, at] of Object.entries(expected.firstAt ?? {})) {
    assert.equal((profile.accesses.get(path) ?? profile.failures.get(path))?.firstAt, at, `firstAt of ${path}`);
  }
  if (expected.timeline) {
    const first = profile.timeline.firstEvent ?? 0;
    const actual = Object.fromEntries(
      Object.keys(expected.timeline).map((key) => {
        const value = profile.timeline[key as keyof Profile['timeline']];
        if (value === undefined) return [key, null];
        return [key, key === 'listenPort' ? value : Math.round((value - first) * 1e6) / 1e6];
      }),
    );
    assert.deepEqual(actual, expected.timeline, 'timeline');
  }
  for (const [pid, fields] of Object.entries(expected.processes ?? {})) {
    const info = profile.processes.get(Number(pid));
    assert.ok(info, `process ${pid}`);
    const actual = { ...info, execs: info.execs.map(({ path, argv }) => ({ path, argv })) } as Record<string, unknown>;
    assert.deepEqual(pick(actual, Object.keys(fields)), fields, `process ${pid}`);
  }
  if (expected.processCount !== undefined) assert.equal(profile.processes.size, expected.processCount, 'processCount');
  for (const [name, count] of Object.entries(expected.syscalls ?? {})) assert.equal(profile.syscalls[name], count, `syscalls.${name}`);
  if (expected.unresolved !== undefined) assert.equal(profile.unresolved, expected.unresolved, 'unresolved');
  if (expected.parse) {
    const actual = { ...stats, events: eventCount } as Record<string, number>;
    assert.deepEqual(pick(actual, Object.keys(expected.parse)), expected.parse, 'parse');
  }
}

function sortedKinds(map: Record<string, string[]>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(map).map(([path, kinds]) => [path, [...kinds].sort()]));
}

describe('strace cases', () => {
  const names = readdirSync(casesDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  test('the case folders are there', () => assert.ok(names.length >= 10));
  for (const name of names) {
    test(name, () => {
      const trace = readFileSync(new URL(`${name}/trace.txt`, casesDir), 'utf8');
      const expected = JSON.parse(readFileSync(new URL(`${name}/expected.json`, casesDir), 'utf8')) as Expected;
      const stats = newParseStats();
      const events = parseStrace(trace, stats);
      const profile = buildProfile(events, expected.options ?? {});
      checkCase(profile, stats, events.length, expected);
      // the JSON form is stable: same input, same text
      const json = JSON.stringify(profileToJson(profile));
      assert.equal(JSON.stringify(profileToJson(buildProfile(parseStrace(trace), expected.options ?? {}))), json);
    });
  }
});

describe('parseStraceLine', () => {
  test('a complete line with a -y annotated dirfd and result', () => {
    const line = parseStraceLine(
      '10    1795706969.437392 openat(AT_FDCWD</app>, "/app/node_modules/accepts/package.json", O_RDONLY|O_CLOEXEC) = 18</app/node_modules/accepts/package.json>',
    );
    assert.ok(line);
    assert.equal(line.type, 'syscall');
    assert.equal(line.pid, 10);
    assert.equal(line.time, 1795706969.437392);
    assert.equal(line.name, 'openat');
    assert.deepEqual(line.args, ['AT_FDCWD</app>', '"/app/node_modules/accepts/package.json"', 'O_RDONLY|O_CLOEXEC']);
    assert.deepEqual(line.result, {
      raw: '18</app/node_modules/accepts/package.json>',
      value: 18,
      fdPath: '/app/node_modules/accepts/package.json',
    });
    assert.equal(line.part, undefined);
  });

  test('errors, hex results and `?`', () => {
    const failed = parseStraceLine(
      '10    1795706969.437838 statx(AT_FDCWD</app>, "/app/node_modules/accepts.js", AT_STATX_SYNC_AS_STAT, STATX_ALL, 0x7ffd66520840) = -1 ENOENT (No such file or directory)',
    );
    assert.deepEqual(failed?.result, { raw: '-1 ENOENT (No such file or directory)', value: -1, errno: 'ENOENT' });
    assert.equal(failed?.args.length, 5);
    const mmap = parseStraceLine('7 1.5 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_DENYWRITE, 3</usr/lib/x86_64-linux-gnu/libc.so.6>, 0) = 0x7f5a54137000');
    assert.equal(mmap?.result.value, 0x7f5a54137000);
    assert.equal(mmap?.args[4], '3</usr/lib/x86_64-linux-gnu/libc.so.6>');
    assert.deepEqual(parseStraceLine('7 1.5 exit_group(0)     = ?')?.result, { raw: '?' });
    const restart = parseStraceLine('7 1.5 read(3, 0x7ffc, 4096) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)');
    assert.equal(restart?.result.errno, 'ERESTARTSYS');
    assert.deepEqual(parseStraceLine('7 1.5 poll([{fd=3, events=POLLIN}], 1, 100) = 0 (Timeout)')?.result, { raw: '0 (Timeout)', value: 0 });
  });

  test('execve with argv, an env comment and strings holding the syntax', () => {
    const line = parseStraceLine(
      '10    1795706968.856193 execve("/usr/bin/node", ["node", "-e", "f(a, b) = [1]; x = \\"y\\""], 0x7ffd4f1b8d00 /* 5 vars */) = 0',
    );
    assert.deepEqual(line?.args, ['"/usr/bin/node"', '["node", "-e", "f(a, b) = [1]; x = \\"y\\""]', '0x7ffd4f1b8d00 /* 5 vars */']);
    assert.equal(line?.result.value, 0);
  });

  test('unfinished and resumed halves keep their raw argument text', () => {
    const start = parseStraceLine('24680 1795707187.258526 wait4(-1,  <unfinished ...>');
    assert.equal(start?.part, 'unfinished');
    assert.equal(start?.rawArgs, '-1, ');
    const end = parseStraceLine('24680 1795707187.277696 <... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 24681');
    assert.equal(end?.part, 'resumed');
    assert.equal(end?.name, 'wait4');
    assert.equal(end?.rawArgs, '[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL');
    assert.equal(end?.result.value, 24681);
    const clone = parseStraceLine('25919 1795707217.833300 <... clone3 resumed> => {parent_tid=[25929]}, 88) = 25929');
    assert.equal(clone?.rawArgs, ' => {parent_tid=[25929]}, 88');
    const killed = parseStraceLine('5 1.0 <... futex resumed> <unfinished ...>) = ?');
    assert.equal(killed?.part, 'resumed');
    assert.deepEqual(killed?.result, { raw: '?' });
  });

  test('a syscall in progress when strace detached is an unfinished half', () => {
    const line = parseStraceLine('9 1795734549.168796 epoll_wait(13<anon_inode:[eventpoll]>,  <detached ...>');
    assert.equal(line?.part, 'unfinished');
    assert.equal(line?.name, 'epoll_wait');
    assert.equal(line?.rawArgs, '13<anon_inode:[eventpoll]>, ');
    const stats = newParseStats();
    const events = parseStrace(['9 1.0 close(3) = 0', '9 1.1 epoll_wait(13<anon_inode:[eventpoll]>,  <detached ...>'], stats);
    assert.deepEqual(events.map((e) => [e.name, e.incomplete ?? false]), [['close', false], ['epoll_wait', true]]);
    assert.deepEqual(stats, { lines: 2, blank: 0, garbage: 0, orphanResumed: 0, incomplete: 1 });
  });

  test('signal and exit lines', () => {
    const signal = parseStraceLine('24680 1795707187.277734 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=24681, si_status=0} ---');
    assert.equal(signal?.type, 'signal');
    assert.equal(signal?.signal, 'SIGCHLD');
    assert.deepEqual(parseStraceLine('3 1.0 +++ exited with 0 +++')?.exit, { code: 0 });
    assert.deepEqual(parseStraceLine('3 1.0 +++ killed by SIGTERM +++')?.exit, { signal: 'SIGTERM' });
    assert.deepEqual(parseStraceLine('3 1.0 +++ killed by SIGSEGV (core dumped) +++')?.exit, { signal: 'SIGSEGV', coreDumped: true });
    assert.equal(parseStraceLine('3 1.0 +++ superseded by execve in pid 7 +++')?.supersededPid, 7);
  });

  test('annotations with commas, parens, escaped > and socket arrows', () => {
    const line = parseStraceLine('1 1.0 openat(AT_FDCWD</tmp/w d>, "a,b)c>d \\"e", O_RDONLY) = 3</tmp/w d/a,b)c\\76d \\"e>');
    assert.equal(line?.args.length, 3);
    assert.equal(line?.result.fdPath, '/tmp/w d/a,b)c>d "e');
    const pair = parseStraceLine('1 1.0 socketpair(AF_UNIX, SOCK_STREAM, 0, [3<UNIX-STREAM:[101887->101888]>, 4<UNIX-STREAM:[101888->101887]>]) = 0');
    assert.deepEqual(pair?.args, ['AF_UNIX', 'SOCK_STREAM', '0', '[3<UNIX-STREAM:[101887->101888]>, 4<UNIX-STREAM:[101888->101887]>]']);
    const accept = parseStraceLine('1 1.0 accept4(5<TCP:[0.0.0.0:9000]>, NULL, NULL, SOCK_CLOEXEC) = 6<TCP:[127.0.0.1:9000->127.0.0.1:45678]>');
    assert.equal(accept?.result.fdPath, 'TCP:[127.0.0.1:9000->127.0.0.1:45678]');
    const futex = parseStraceLine('1 1.0 futex(0x7f, FUTEX_WAKE_OP_PRIVATE, 1, 1, 0x7e, FUTEX_OP_SET<<28|0<<12|FUTEX_OP_CMP_GT<<24|0x1) = 1');
    assert.equal(futex?.args.length, 6);
    assert.equal(futex?.result.value, 1);
  });

  test('a string truncated by -s, and lines without a pid or time', () => {
    const line = parseStraceLine('9 2.0 read(3</app/a.txt>, "hello, \\"world\\") = 1"..., 256) = 300');
    assert.deepEqual(line?.args, ['3</app/a.txt>', '"hello, \\"world\\") = 1"...', '256']);
    assert.deepEqual(decodeQuoted(line!.args[1]!), { value: 'hello, "world") = 1', truncated: true });
    const bare = parseStraceLine('close(3) = 0');
    assert.equal(bare?.pid, 0);
    assert.equal(bare?.name, 'close');
    assert.equal(parseStraceLine('1795706968.856193 close(3) = 0')?.time, 1795706968.856193);
  });

  test('garbage is not a line', () => {
    for (const text of ['', '   ', 'strace: Process 12 attached', '12 1.0 openat(AT_FDCWD, "/cut', '12 1.0 close(3)', 'hello world']) {
      assert.equal(parseStraceLine(text), undefined, text);
    }
  });
});

describe('values', () => {
  test('decodeQuoted reads C escapes into bytes, then UTF-8', () => {
    assert.equal(decodeQuoted('"caf\\303\\251"')?.value, 'café');
    assert.equal(decodeQuoted('"\\x41\\x42\\x4a"')?.value, 'ABJ');
    assert.equal(decodeQuoted('"\\1\\2\\0033\\08"')?.value, '\u0001\u0002\u00033\u00008');
    assert.equal(decodeQuoted('"\\t\\n\\r\\v\\f\\\\\\""')?.value, '\t\n\r\v\f\\"');
    assert.equal(decodeQuoted('"\\360\\237\\230\\200"')?.value, '😀');
    assert.equal(decodeQuoted('"déjà"')?.value, 'déjà');
    assert.deepEqual(decodeQuoted('"a b, c"'), { value: 'a b, c', truncated: false });
    assert.equal(decodeQuoted('NULL'), undefined);
    assert.equal(decodeQuoted('0x7ffd66520840'), undefined);
  });

  test('splitArgs respects nesting, quotes and comments', () => {
    assert.deepEqual(splitArgs(''), []);
    assert.deepEqual(splitArgs('a, {b=1, c=[2, 3]}, "d, e", f /* g, h */, i(j, k)'), ['a', '{b=1, c=[2, 3]}', '"d, e"', 'f /* g, h */', 'i(j, k)']);
  });

  test('parseFdArg', () => {
    assert.deepEqual(parseFdArg('3'), { fd: 3 });
    assert.deepEqual(parseFdArg('AT_FDCWD</a b>'), { fd: 'AT_FDCWD', annotation: '/a b' });
    assert.deepEqual(parseFdArg('5<socket:[1234]>'), { fd: 5, annotation: 'socket:[1234]' });
    assert.deepEqual(parseFdArg('3</x\\76y>'), { fd: 3, annotation: '/x>y' });
    assert.equal(parseFdArg('NULL'), undefined);
  });

  test('normalizePath is lexical', () => {
    assert.equal(normalizePath('/a/./b/../c//d/'), '/a/c/d');
    assert.equal(normalizePath('../../x', '/a'), '/x');
    assert.equal(normalizePath('', '/a/b'), '/a/b');
    assert.equal(normalizePath('/..'), '/');
  });
});

describe('parseStrace', () => {
  test('joins halves in start order, counts blank and garbage lines', () => {
    const stats = newParseStats();
    const events = parseStrace(
      [
        '1 1.000 vfork( <unfinished ...>',
        '2 1.001 execve("/bin/true", ["true"], 0x1 /* 0 vars */ <unfinished ...>',
        '',
        'not strace output',
        '1 1.002 <... vfork resumed>) = 2',
        '2 1.003 <... execve resumed>) = 0',
        '2 1.004 <... read resumed>"", 1) = 0',
        '1 1.005 wait4(-1,  <unfinished ...>',
      ],
      stats,
    );
    assert.deepEqual(
      events.map((e) => [e.pid, e.name, e.time, e.result.raw, e.incomplete ?? false]),
      [
        [1, 'vfork', 1.0, '2', false],
        [2, 'execve', 1.001, '0', false],
        [2, 'read', 1.004, '0', false],
        [1, 'wait4', 1.005, '', true],
      ],
    );
    assert.deepEqual(events[1]!.args, ['"/bin/true"', '["true"]', '0x1 /* 0 vars */']);
    assert.deepEqual(stats, { lines: 8, blank: 1, garbage: 1, orphanResumed: 1, incomplete: 1 });
  });

  test('a thread execve completes under the leader pid', () => {
    const events = parseStrace([
      '12 1.0 execve("/bin/sh", ["sh"], 0x1 /* 0 vars */ <unfinished ...>',
      '10 1.1 +++ superseded by execve in pid 12 +++',
      '10 1.2 <... execve resumed>) = 0',
    ]);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.pid, 12);
    assert.equal(events[0]!.result.value, 0);
  });

  test('accepts an array of lines and CRLF text', () => {
    assert.equal(parseStrace('1 1.0 close(3) = 0\r\n1 1.1 close(4) = 0\r\n').length, 2);
  });
});

describe('profileToJson', () => {
  test('is sorted and JSON-friendly', () => {
    const profile = buildProfile(
      parseStrace(['2 5.0 stat("/b", 0x1) = 0', '1 5.5 openat(AT_FDCWD, "/a", O_RDONLY) = 3', '2 6.0 access("/c", F_OK) = -1 ENOENT (No such file or directory)']),
      { startTime: 4.0 },
    );
    const json = profileToJson(profile);
    assert.deepEqual(
      json.accesses.map((a) => [a.path, a.firstAt]),
      [
        ['/a', 1.5],
        ['/b', 1],
      ],
    );
    assert.deepEqual(json.failures, [{ path: '/c', kinds: ['access'], firstAt: 2, ok: false, errno: 'ENOENT' }]);
    assert.deepEqual(
      json.processes.map((p) => p.pid),
      [1, 2],
    );
    assert.deepEqual(Object.keys(json.syscalls), ['access', 'openat', 'stat']);
    assert.equal(json.startTime, 4);
    assert.deepEqual(JSON.parse(JSON.stringify(json)), json);
  });
});
