import { readFileSync } from 'node:fs';
import type Docker from 'dockerode';
import { engineKind, engineName } from '../docker/engine.js';
import { environmentError, type SlimError } from '../errors.js';

/** strace's own words when the kernel refuses it ptrace (EPERM on PTRACE_TRACEME, _SEIZE, _ATTACH, _SETOPTIONS). */
const REFUSED = /^.*\bPTRACE_[A-Z_]+\b.*: Operation not permitted$/gm;

/**
 * The line of the container's output where strace says it may not trace, if it says so: its fatal
 * `ptrace(PTRACE_...)` line rather than the probe (`test_ptrace_get_syscall_info`) before it.
 */
export function ptraceRefusal(logs: string): string | undefined {
  const lines = [...logs.matchAll(REFUSED)].map((m) => m[0].trim());
  return lines.find((l) => /\bptrace\(PTRACE_/.test(l)) ?? lines[0];
}

/** What the engine reports of its confinement: `name=seccomp,profile=default`, `name=apparmor`, `name=selinux`. */
export interface EngineSecurity {
  /** false when the engine did not say (its /info failed): then every piece is named */
  known: boolean;
  /** "default" (dockerd's built-in), or a path; undefined when containers run without seccomp */
  seccompProfile?: string;
  apparmor: boolean;
  selinux: boolean;
  rootless: boolean;
}

export function parseSecurityOptions(options: string[]): EngineSecurity {
  const named = (name: string) => options.find((o) => o.split(',').includes(`name=${name}`));
  const seccomp = named('seccomp');
  return {
    known: true,
    seccompProfile: seccomp?.split(',').find((f) => f.startsWith('profile='))?.slice('profile='.length),
    apparmor: named('apparmor') !== undefined,
    selinux: named('selinux') !== undefined,
    rootless: named('rootless') !== undefined,
  };
}

/** kernel.yama.ptrace_scope: 3 forbids ptrace to everyone until a reboot; absent when Yama is not built in. */
export function yamaScope(read: () => string = () => readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8')): number | undefined {
  try {
    const value = Number(read().trim());
    return Number.isInteger(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Names the piece that keeps the sensor from tracing. slim asks for CAP_SYS_PTRACE and keeps the
 * engine's default seccomp profile, which allows ptrace (dockerd since 19.03, Podman's
 * containers-common); what is left is the host's Yama setting, a custom default profile, or a
 * security module's policy.
 */
export function ptraceRefusedError(straceSaid: string, security: EngineSecurity, scope: number | undefined): SlimError {
  const engine = engineName();
  const said = `strace said: ${straceSaid}`;
  if (scope === 3) {
    return environmentError(`the kernel forbids ptrace to every process (kernel.yama.ptrace_scope = 3), so slim cannot trace the function (${said})`, 'the setting holds until a reboot: boot with kernel.yama.ptrace_scope at 2 or lower (/etc/sysctl.d), then trace again');
  }
  if (!security.known) {
    return environmentError(`ptrace is refused inside ${engine}'s containers, so slim cannot trace the function (${said})`, 'check the engine\'s default seccomp profile (it must allow ptrace), kernel.yama.ptrace_scope (at most 2), and any AppArmor or SELinux policy for containers');
  }
  const profile = security.seccompProfile;
  if (profile && !DEFAULT_PROFILES.has(profile)) {
    return environmentError(`${engine} runs containers under the seccomp profile ${profile}, which refuses ptrace, so slim cannot trace the function (${said})`, 'allow ptrace in that profile, or start the engine with its default profile (dockerd: drop "seccomp-profile" from daemon.json; Podman: seccomp_profile in containers.conf)');
  }
  if (!profile) {
    return environmentError(`ptrace is refused inside ${engine}'s containers, which run without seccomp, so a security policy of the host denies it (${said})`, 'check the host\'s Yama setting (sysctl kernel.yama.ptrace_scope) and any AppArmor or SELinux policy for containers');
  }
  const modules = [security.apparmor ? 'AppArmor' : undefined, security.selinux ? 'SELinux' : undefined].filter(Boolean);
  const where = modules.length ? `${modules.join(' or ')} policy for containers` : 'host security policy';
  return environmentError(`ptrace is refused inside ${engine}'s containers although slim adds CAP_SYS_PTRACE and the default seccomp profile allows it: the ${where} denies it (${said})`, `allow ptrace for the container's processes in the ${where}${scope === undefined ? '' : `, and check kernel.yama.ptrace_scope (${scope})`}`);
}

/** dockerd's built-in profile, and the one Podman ships in containers-common. */
const DEFAULT_PROFILES = new Set(['default', 'builtin', '/usr/share/containers/seccomp.json']);

interface LibpodSecurity {
  seccompEnabled?: boolean;
  seccompProfilePath?: string;
  apparmorEnabled?: boolean;
  selinuxEnabled?: boolean;
  rootless?: boolean;
}

/** Podman's compat /info always says `profile=default`; its own /libpod/info names the profile file. */
function libpodSecurity(engine: Docker): Promise<EngineSecurity | undefined> {
  return new Promise((resolve) => {
    engine.modem.dial({ path: '/v4.0.0/libpod/info', method: 'GET', statusCodes: { 200: true }, options: {} }, (err: unknown, data: unknown) => {
      const security = (data as { host?: { security?: LibpodSecurity } } | undefined)?.host?.security;
      if (err || !security) return resolve(undefined);
      resolve({
        known: true,
        seccompProfile: security.seccompEnabled === false ? undefined : (security.seccompProfilePath || 'default'),
        apparmor: Boolean(security.apparmorEnabled),
        selinux: Boolean(security.selinuxEnabled),
        rootless: Boolean(security.rootless),
      });
    });
  });
}

export async function engineSecurity(engine: Docker): Promise<EngineSecurity> {
  if ((await engineKind(engine).catch(() => 'docker')) === 'podman') {
    const libpod = await libpodSecurity(engine);
    if (libpod) return libpod;
  }
  const info = (await engine.info().catch(() => undefined)) as { SecurityOptions?: string[] } | undefined;
  if (!info?.SecurityOptions) return { known: false, apparmor: false, selinux: false, rootless: false };
  return parseSecurityOptions(info.SecurityOptions);
}

/** Reads the engine's confinement and names the missing piece (see ptraceRefusedError). */
export async function explainPtraceRefusal(engine: Docker, straceSaid: string): Promise<SlimError> {
  return ptraceRefusedError(straceSaid, await engineSecurity(engine), yamaScope());
}
