import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ExitCode } from '../../src/errors.js';
import { parseSecurityOptions, ptraceRefusal, ptraceRefusedError, yamaScope } from '../../src/trace/ptrace-refusal.js';

// strace 6.1's output in a container whose seccomp profile returns EPERM for ptrace (seen on dockerd and Podman)
const REFUSED_LOGS = `/.slim-sensor/strace: test_ptrace_get_syscall_info: PTRACE_TRACEME: Operation not permitted
/.slim-sensor/strace: ptrace(PTRACE_TRACEME, ...): Operation not permitted
/.slim-sensor/strace: PTRACE_SETOPTIONS: Operation not permitted
/.slim-sensor/strace: detach: waitpid(9): No child processes
`;

const DEFAULT = parseSecurityOptions(['name=seccomp,profile=default']);

describe('ptrace refused inside the container', () => {
  test('finds strace\'s refusal in the logs, and nothing in a function\'s ordinary failure', () => {
    assert.equal(ptraceRefusal(REFUSED_LOGS), '/.slim-sensor/strace: ptrace(PTRACE_TRACEME, ...): Operation not permitted', 'the fatal line, not the probe');
    assert.equal(ptraceRefusal('strace: attach: ptrace(PTRACE_SEIZE, 7): Operation not permitted\n'), 'strace: attach: ptrace(PTRACE_SEIZE, 7): Operation not permitted');
    assert.equal(ptraceRefusal('x: PTRACE_SETOPTIONS: Operation not permitted\n'), 'x: PTRACE_SETOPTIONS: Operation not permitted');
    assert.equal(ptraceRefusal('Error: listen EADDRINUSE: address already in use 0.0.0.0:9000\n'), undefined);
    assert.equal(ptraceRefusal("open('/data'): Operation not permitted\n"), undefined);
  });

  test('reads the engine\'s security options', () => {
    assert.deepEqual(parseSecurityOptions(['name=apparmor', 'name=seccomp,profile=/etc/docker/strict.json', 'name=cgroupns']), {
      known: true,
      seccompProfile: '/etc/docker/strict.json',
      apparmor: true,
      selinux: false,
      rootless: false,
    });
    assert.deepEqual(parseSecurityOptions(['name=selinux', 'name=rootless']), { known: true, seccompProfile: undefined, apparmor: false, selinux: true, rootless: true });
  });

  test('Yama at 3 is named first: nothing else can help until a reboot', () => {
    const err = ptraceRefusedError('strace: PTRACE_TRACEME: Operation not permitted', DEFAULT, 3);
    assert.equal(err.exitCode, ExitCode.environment);
    assert.match(err.message, /kernel\.yama\.ptrace_scope = 3/);
    assert.match(err.hint ?? '', /reboot/);
  });

  test('a custom seccomp profile is named by its path', () => {
    const err = ptraceRefusedError('strace: PTRACE_TRACEME: Operation not permitted', parseSecurityOptions(['name=seccomp,profile=/etc/docker/strict.json']), 1);
    assert.equal(err.exitCode, ExitCode.environment);
    assert.match(err.message, /seccomp profile \/etc\/docker\/strict\.json, which refuses ptrace/);
    assert.match(err.message, /strace said: strace: PTRACE_TRACEME/);
  });

  test('Podman\'s shipped profile (as /libpod/info names it) is a default; another file is custom', () => {
    const podman = { known: true, apparmor: false, selinux: true, rootless: false };
    const shipped = ptraceRefusedError('x: PTRACE_SEIZE: Operation not permitted', { ...podman, seccompProfile: '/usr/share/containers/seccomp.json' }, undefined);
    assert.match(shipped.message, /SELinux policy for containers denies it/);
    const custom = ptraceRefusedError('x: PTRACE_SEIZE: Operation not permitted', { ...podman, seccompProfile: '/etc/containers/seccomp.json' }, undefined);
    assert.match(custom.message, /seccomp profile \/etc\/containers\/seccomp\.json, which refuses ptrace/);
  });

  test('when the engine does not say how it confines containers, every piece is named and none is blamed', () => {
    const err = ptraceRefusedError('x: PTRACE_TRACEME: Operation not permitted', { known: false, apparmor: false, selinux: false, rootless: false }, 1);
    assert.equal(err.exitCode, ExitCode.environment);
    assert.match(err.hint ?? '', /seccomp profile .*kernel\.yama\.ptrace_scope .*AppArmor or SELinux/);
    assert.doesNotMatch(err.message, /denies it/);
  });

  test('with the default profile, the security module is blamed', () => {
    assert.match(ptraceRefusedError('x', parseSecurityOptions(['name=seccomp,profile=default', 'name=apparmor']), 1).message, /AppArmor policy for containers/);
    assert.match(ptraceRefusedError('x', DEFAULT, 2).hint ?? '', /kernel\.yama\.ptrace_scope \(2\)/);
  });

  test('reads Yama\'s scope, absent when Yama is not there', () => {
    assert.equal(yamaScope(() => '1\n'), 1);
    assert.equal(yamaScope(() => {
      throw new Error('ENOENT');
    }), undefined);
  });
});
