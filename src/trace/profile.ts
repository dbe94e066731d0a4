import { normalizePath } from '../image/resolve-path.js';
import { decodeQuoted, parseFdArg, parseStringArray, type SyscallEvent } from './strace-parser.js';

export type AccessKind = 'exec' | 'open' | 'mmap' | 'stat' | 'readlink' | 'list' | 'access' | 'chdir' | 'write' | 'create' | 'delete';

/** A path the traced processes used successfully (absolute, `.`/`..` resolved lexically, symlinks not followed). */
export interface PathAccess {
  path: string;
  /** sorted, unique */
  kinds: AccessKind[];
  /** seconds since the profile's start time */
  firstAt: number;
  ok: true;
  /** under /proc, /sys or /dev: the image cannot provide it */
  virtual?: true;
}

/** A path that was looked up but never used successfully (a PATH search miss, a missing optional config...). */
export interface PathFailure {
  path: string;
  kinds: AccessKind[];
  firstAt: number;
  ok: false;
  /** the first error seen for it */
  errno: string;
  virtual?: true;
}

export interface ExecInfo {
  path: string;
  argv: string[];
  /** epoch seconds */
  time: number;
}

export interface ProcessInfo {
  pid: number;
  /** the pid whose fork/clone returned this pid */
  parentPid?: number;
  /** created with CLONE_THREAD */
  thread?: true;
  /** successful execs, in order */
  execs: ExecInfo[];
  exitCode?: number;
  /** the signal that killed it */
  signal?: string;
}

/** Epoch seconds of the moments that make up a cold start; undefined when not seen. */
export interface Timeline {
  firstEvent?: number;
  /** the first successful execve */
  firstExec?: number;
  /** the first successful listen */
  listening?: number;
  /** the port bound on the socket of that listen, when the bind was seen */
  listenPort?: number;
  /** the first successful accept after listening */
  firstAccept?: number;
  /** the first bytes written to an accepted socket */
  firstResponse?: number;
}

export interface Profile {
  /** epoch seconds that `firstAt` counts from */
  startTime?: number;
  accesses: Map<string, PathAccess>;
  failures: Map<string, PathFailure>;
  /** how many times each syscall appears, failed ones included */
  syscalls: Record<string, number>;
  processes: Map<number, ProcessInfo>;
  timeline: Timeline;
  /** path arguments that could not be made absolute (an unknown dirfd, an unreadable string) */
  unresolved: number;
}

export interface ProfileOptions {
  /** the working directory of the first process (the container's WorkingDir) */
  initialCwd?: string;
  /** epoch seconds to count `firstAt` from; defaults to the trace's first event */
  startTime?: number;
}

export { normalizePath };

export function isVirtualPath(path: string): boolean {
  return /^\/(?:proc|sys|dev)(?:\/|$)/.test(path);
}

// ---- which arguments of which syscalls are paths ----

interface PathArg {
  /** index of the dirfd argument of an *at syscall */
  dirfd?: number;
  path: number;
  kinds: (args: string[]) => AccessKind[];
}

const plain = (path: number, ...kinds: AccessKind[]): PathArg => ({ path, kinds: () => kinds });
const at = (dirfd: number, path: number, ...kinds: AccessKind[]): PathArg => ({ dirfd, path, kinds: () => kinds });

function openKinds(flags: string | undefined): AccessKind[] {
  const kinds: AccessKind[] = ['open'];
  if (/O_WRONLY|O_RDWR|O_TRUNC/.test(flags ?? '')) kinds.push('write');
  if (/O_CREAT/.test(flags ?? '')) kinds.push('create');
  return kinds;
}

const PATH_ARGS: Record<string, PathArg[]> = {
  execve: [plain(0, 'exec')],
  execveat: [at(0, 1, 'exec')],
  open: [{ path: 0, kinds: (args) => openKinds(args[1]) }],
  openat: [{ dirfd: 0, path: 1, kinds: (args) => openKinds(args[2]) }],
  openat2: [{ dirfd: 0, path: 1, kinds: (args) => openKinds(args[2]) }],
  creat: [plain(0, 'open', 'write', 'create')],
  stat: [plain(0, 'stat')],
  lstat: [plain(0, 'stat')],
  stat64: [plain(0, 'stat')],
  lstat64: [plain(0, 'stat')],
  statfs: [plain(0, 'stat')],
  statfs64: [plain(0, 'stat')],
  newfstatat: [at(0, 1, 'stat')],
  fstatat64: [at(0, 1, 'stat')],
  statx: [at(0, 1, 'stat')],
  access: [plain(0, 'access')],
  faccessat: [at(0, 1, 'access')],
  faccessat2: [at(0, 1, 'access')],
  readlink: [plain(0, 'readlink')],
  readlinkat: [at(0, 1, 'readlink')],
  chdir: [plain(0, 'chdir')],
  unlink: [plain(0, 'delete')],
  unlinkat: [at(0, 1, 'delete')],
  rmdir: [plain(0, 'delete')],
  rename: [plain(0, 'delete'), plain(1, 'write')],
  renameat: [at(0, 1, 'delete'), at(2, 3, 'write')],
  renameat2: [at(0, 1, 'delete'), at(2, 3, 'write')],
  mkdir: [plain(0, 'create')],
  mkdirat: [at(0, 1, 'create')],
  mknod: [plain(0, 'create')],
  mknodat: [at(0, 1, 'create')],
  symlink: [plain(1, 'create')],
  symlinkat: [at(1, 2, 'create')],
  link: [plain(0, 'stat'), plain(1, 'create')],
  linkat: [at(0, 1, 'stat'), at(2, 3, 'create')],
  truncate: [plain(0, 'write')],
  truncate64: [plain(0, 'write')],
  utime: [plain(0, 'write')],
  utimes: [plain(0, 'write')],
  utimensat: [at(0, 1, 'write')],
  futimesat: [at(0, 1, 'write')],
  chmod: [plain(0, 'write')],
  fchmodat: [at(0, 1, 'write')],
  chown: [plain(0, 'write')],
  lchown: [plain(0, 'write')],
  fchownat: [at(0, 1, 'write')],
};

/** syscalls whose first argument is an fd whose path they use */
const FD_KINDS: Record<string, { fd: number; kind: AccessKind }> = {
  getdents: { fd: 0, kind: 'list' },
  getdents64: { fd: 0, kind: 'list' },
  fchdir: { fd: 0, kind: 'chdir' },
  mmap: { fd: 4, kind: 'mmap' },
  mmap2: { fd: 4, kind: 'mmap' },
};

/** Errors that show the path is there even though the call failed (mkdir of an existing dir, readlink of a file). */
function provesExistence(name: string, errno: string): boolean {
  return ['EEXIST', 'EISDIR', 'ENOTEMPTY', 'ENOEXEC'].includes(errno) || (errno === 'EINVAL' && name.startsWith('readlink'));
}

const OPENS = new Set(['open', 'openat', 'openat2', 'creat']);
const ACCEPTS = new Set(['accept', 'accept4']);
const SENDS = new Set(['write', 'writev', 'send', 'sendto', 'sendmsg', 'sendmmsg', 'sendfile', 'sendfile64']);
const FORKS = new Set(['fork', 'vfork', 'clone', 'clone3']);

// ---- per-task state ----

interface FdEntry {
  /** an absolute path, or a `-y` annotation such as `socket:[1234]` */
  path?: string;
  /** returned by accept: writes to it are responses */
  accepted?: true;
  /** the port a bind gave it */
  port?: number;
}

type FdTable = Map<number, FdEntry>;

interface Task {
  /** shared between threads created with CLONE_FILES */
  fds: FdTable;
  /** shared between threads created with CLONE_FS */
  fs: { cwd: string };
}

interface Seen {
  kinds: Set<AccessKind>;
  firstAt: number;
  errno?: string;
}

function cleanAnnotation(annotation: string): string {
  const path = annotation.replace(/ \(deleted\)$/, '');
  return path.startsWith('/') ? normalizePath(path) : path;
}

function absolute(path: string | undefined): string | undefined {
  return path?.startsWith('/') ? path : undefined;
}

class ProfileBuilder {
  private readonly tasks = new Map<number, Task>();
  private readonly ok = new Map<string, Seen>();
  private readonly failed = new Map<string, Seen>();
  private readonly acceptedSockets = new Set<string>();
  private readonly profile: Profile;

  constructor(
    private readonly initialCwd: string,
    private readonly origin: number | undefined,
  ) {
    this.profile = { accesses: new Map(), failures: new Map(), syscalls: {}, processes: new Map(), timeline: {}, unresolved: 0 };
    if (origin !== undefined) this.profile.startTime = origin;
  }

  handle(ev: SyscallEvent): void {
    const timeline = this.profile.timeline;
    if (timeline.firstEvent === undefined || ev.time < timeline.firstEvent) timeline.firstEvent = ev.time;
    if (ev.type === 'signal') return;
    if (ev.type === 'exit') {
      const info = this.process(ev.pid);
      if (ev.exit?.code !== undefined) info.exitCode = ev.exit.code;
      if (ev.exit?.signal !== undefined) info.signal = ev.exit.signal;
      return;
    }
    this.profile.syscalls[ev.name] = (this.profile.syscalls[ev.name] ?? 0) + 1;
    // its outcome is unknown, so it proves nothing
    if (ev.incomplete) return;
    const task = this.task(ev.pid);
    const failed = ev.result.errno !== undefined || (ev.result.value ?? 0) < 0;
    const paths = this.recordPaths(task, ev, failed);
    this.recordFdUse(task, ev, failed);
    if (!failed) this.applyEffects(task, ev, paths);
  }

  finish(): Profile {
    const origin = this.origin ?? this.profile.timeline.firstEvent ?? 0;
    if (this.profile.startTime === undefined && this.profile.timeline.firstEvent !== undefined) this.profile.startTime = origin;
    const offset = (t: number) => Math.round((t - origin) * 1e6) / 1e6;
    for (const [path, seen] of [...this.ok].sort(byKey)) {
      const access: PathAccess = { path, kinds: [...seen.kinds].sort(), firstAt: offset(seen.firstAt), ok: true };
      if (isVirtualPath(path)) access.virtual = true;
      this.profile.accesses.set(path, access);
    }
    for (const [path, seen] of [...this.failed].sort(byKey)) {
      if (this.ok.has(path)) continue;
      const failure: PathFailure = { path, kinds: [...seen.kinds].sort(), firstAt: offset(seen.firstAt), ok: false, errno: seen.errno! };
      if (isVirtualPath(path)) failure.virtual = true;
      this.profile.failures.set(path, failure);
    }
    return this.profile;
  }

  private task(pid: number): Task {
    let task = this.tasks.get(pid);
    if (!task) {
      task = { fds: new Map(), fs: { cwd: this.initialCwd } };
      this.tasks.set(pid, task);
      this.process(pid);
    }
    return task;
  }

  private process(pid: number): ProcessInfo {
    let info = this.profile.processes.get(pid);
    if (!info) {
      info = { pid, execs: [] };
      this.profile.processes.set(pid, info);
    }
    return info;
  }

  private note(path: string, kinds: AccessKind[], time: number, errno?: string): void {
    const map = errno === undefined ? this.ok : this.failed;
    let seen = map.get(path);
    if (!seen) {
      seen = { kinds: new Set(), firstAt: time };
      if (errno !== undefined) seen.errno = errno;
      map.set(path, seen);
    }
    for (const kind of kinds) seen.kinds.add(kind);
  }

  /** Records the path arguments of a syscall; returns them resolved, in PATH_ARGS order. */
  private recordPaths(task: Task, ev: SyscallEvent, failed: boolean): (string | undefined)[] {
    const specs = PATH_ARGS[ev.name];
    if (!specs) return [];
    const errno = ev.result.errno ?? (failed ? 'EUNKNOWN' : undefined);
    const paths = specs.map((spec) => this.resolve(task, spec.dirfd === undefined ? undefined : ev.args[spec.dirfd], ev.args[spec.path]));
    specs.forEach((spec, i) => {
      const path = paths[i]?.path;
      if (path === undefined) return;
      if (errno === undefined) this.note(path, spec.kinds(ev.args), ev.time);
      else if (provesExistence(ev.name, errno)) this.note(path, ['stat'], ev.time);
      // an empty path names the dirfd itself, which exists; with two paths, which one failed is unknown
      else if (!paths[i]!.empty && specs.length === 1) this.note(path, spec.kinds(ev.args), ev.time, errno);
    });
    const fdPath = OPENS.has(ev.name) && !failed ? absolute(cleanAnnotation(ev.result.fdPath ?? '')) : undefined;
    if (fdPath !== undefined && fdPath !== paths[0]?.path) this.note(fdPath, ['open'], ev.time);
    return paths.map((p) => p?.path);
  }

  /** A path argument made absolute against the cwd or a dirfd; an empty path (AT_EMPTY_PATH) is the dirfd's own. */
  private resolve(task: Task, dirfdArg: string | undefined, pathArg: string | undefined): { path: string; empty: boolean } | undefined {
    const decoded = pathArg === 'NULL' ? { value: '', truncated: false } : decodeQuoted(pathArg ?? '');
    if (!decoded || decoded.truncated) {
      this.profile.unresolved++;
      return undefined;
    }
    const path = decoded.value;
    if (path.startsWith('/')) return { path: normalizePath(path), empty: false };
    const base = this.directory(task, dirfdArg);
    if (base === undefined) {
      this.profile.unresolved++;
      return undefined;
    }
    return { path: normalizePath(path, base), empty: path === '' };
  }

  private directory(task: Task, dirfdArg: string | undefined): string | undefined {
    if (dirfdArg === undefined) return task.fs.cwd;
    const parsed = parseFdArg(dirfdArg);
    if (parsed?.fd === 'AT_FDCWD') {
      const annotated = absolute(cleanAnnotation(parsed.annotation ?? ''));
      if (annotated !== undefined) task.fs.cwd = annotated;
      return task.fs.cwd;
    }
    return absolute(this.fd(task, dirfdArg)?.entry?.path);
  }

  /** An fd argument and what the table knows of it; a `-y` annotation overrides the table. */
  private fd(task: Task, arg: string | undefined): { fd: number; entry?: FdEntry; annotation?: string } | undefined {
    const parsed = parseFdArg(arg);
    if (!parsed || parsed.fd === 'AT_FDCWD') return undefined;
    let entry = task.fds.get(parsed.fd);
    if (parsed.annotation === undefined) return entry ? { fd: parsed.fd, entry } : { fd: parsed.fd };
    const path = cleanAnnotation(parsed.annotation);
    if (entry?.path !== path) {
      // -yy shows a socket as TCP:[inode] until bind, then as TCP:[addr:port]: still the same socket
      const sameSocket = entry?.path !== undefined && !entry.path.startsWith('/') && !path.startsWith('/');
      entry = sameSocket ? { ...entry, path } : { path };
      task.fds.set(parsed.fd, entry);
    }
    return { fd: parsed.fd, entry, annotation: path };
  }

  private recordFdUse(task: Task, ev: SyscallEvent, failed: boolean): void {
    const use = FD_KINDS[ev.name];
    if (!use || failed) return;
    const path = absolute(this.fd(task, ev.args[use.fd])?.entry?.path);
    if (path !== undefined) this.note(path, [use.kind], ev.time);
  }

  private applyEffects(task: Task, ev: SyscallEvent, paths: (string | undefined)[]): void {
    const { name, args, result } = ev;
    const value = result.value ?? -1;
    if (name === 'chdir' && paths[0] !== undefined) task.fs.cwd = paths[0];
    else if (name === 'fchdir') {
      const path = absolute(this.fd(task, args[0])?.entry?.path);
      if (path !== undefined) task.fs.cwd = path;
    } else if (name === 'getcwd') {
      const cwd = absolute(decodeQuoted(args[0] ?? '')?.value);
      if (cwd !== undefined) task.fs.cwd = normalizePath(cwd);
    } else if (name === 'execve' || name === 'execveat') this.onExec(ev, paths[0]);
    else if (FORKS.has(name)) this.onFork(task, ev);
    else if (name === 'exit' || name === 'exit_group') {
      if (/^-?\d+$/.test(args[0] ?? '')) this.process(ev.pid).exitCode = Number(args[0]);
    } else if (name === 'close') {
      const fd = this.fd(task, args[0]);
      if (fd) task.fds.delete(fd.fd);
    } else if (name === 'close_range') this.onCloseRange(task, args);
    else if (name === 'bind') this.onBind(task, args);
    else if (name === 'listen') this.onListen(task, ev);
    else if (SENDS.has(name)) this.onSend(task, ev);

    if (value < 0) return;
    // the fd a syscall returned
    const annotated = result.fdPath === undefined ? undefined : cleanAnnotation(result.fdPath);
    if (OPENS.has(name)) task.fds.set(value, { path: annotated ?? paths[0] });
    else if (ACCEPTS.has(name)) this.onAccept(task, ev, value, annotated);
    else if (name === 'dup' || name === 'dup2' || name === 'dup3' || (name === 'fcntl' && /^F_DUPFD/.test(args[1] ?? ''))) {
      const source = this.fd(task, args[0])?.entry;
      const entry: FdEntry = { ...source };
      if (annotated !== undefined && annotated !== entry.path) task.fds.set(value, { path: annotated });
      else task.fds.set(value, entry);
    } else if (annotated !== undefined) task.fds.set(value, { path: annotated });
  }

  private onExec(ev: SyscallEvent, path: string | undefined): void {
    const pathIndex = ev.name === 'execveat' ? 1 : 0;
    const argv = parseStringArray(ev.args[pathIndex + 1]);
    const exec: ExecInfo = { path: path ?? decodeQuoted(ev.args[pathIndex] ?? '')?.value ?? '', argv, time: ev.time };
    this.process(ev.pid).execs.push(exec);
    this.profile.timeline.firstExec ??= ev.time;
  }

  private onFork(parent: Task, ev: SyscallEvent): void {
    const child = ev.result.value;
    if (child === undefined || child <= 0) return;
    const flags = ev.name.startsWith('clone') ? ev.args.join(',') : '';
    if (!this.tasks.has(child)) {
      const fds = /CLONE_FILES/.test(flags) ? parent.fds : new Map([...parent.fds].map(([fd, entry]) => [fd, { ...entry }]));
      const fs = /CLONE_FS/.test(flags) ? parent.fs : { ...parent.fs };
      this.tasks.set(child, { fds, fs });
    }
    const info = this.process(child);
    info.parentPid = ev.pid;
    if (/CLONE_THREAD/.test(flags)) info.thread = true;
  }

  private onCloseRange(task: Task, args: string[]): void {
    if (/CLOSE_RANGE_CLOEXEC/.test(args[2] ?? '')) return;
    const first = Number(args[0]);
    const last = /^\d+$/.test(args[1] ?? '') ? Number(args[1]) : Infinity;
    for (const fd of [...task.fds.keys()]) if (fd >= first && fd <= last) task.fds.delete(fd);
  }

  private onBind(task: Task, args: string[]): void {
    const port = /sin6?_port=htons\((\d+)\)/.exec(args[1] ?? '');
    const fd = this.fd(task, args[0]);
    if (!port || !fd) return;
    const entry = fd.entry ?? {};
    entry.port = Number(port[1]);
    task.fds.set(fd.fd, entry);
  }

  private onListen(task: Task, ev: SyscallEvent): void {
    const timeline = this.profile.timeline;
    if (timeline.listening !== undefined) return;
    timeline.listening = ev.time;
    const fd = this.fd(task, ev.args[0]);
    // without the bind, -yy's `TCP:[0.0.0.0:9000]` still tells the port
    const port = fd?.entry?.port ?? /^(?:TCP|UDP)(?:v6)?:\[(?!.*->).*:(\d+)\]$/.exec(fd?.annotation ?? '')?.[1];
    if (port !== undefined) timeline.listenPort = Number(port);
  }

  private onAccept(task: Task, ev: SyscallEvent, fd: number, annotated: string | undefined): void {
    const entry: FdEntry = { accepted: true };
    if (annotated !== undefined) {
      entry.path = annotated;
      this.acceptedSockets.add(annotated);
    }
    task.fds.set(fd, entry);
    const timeline = this.profile.timeline;
    if (timeline.listening !== undefined) timeline.firstAccept ??= ev.time;
  }

  private onSend(task: Task, ev: SyscallEvent): void {
    if ((ev.result.value ?? 0) <= 0 || this.profile.timeline.firstResponse !== undefined) return;
    const fd = this.fd(task, ev.args[0]);
    const accepted = fd?.entry?.accepted || (fd?.annotation !== undefined && this.acceptedSockets.has(fd.annotation));
    if (accepted) this.profile.timeline.firstResponse = ev.time;
  }
}

function byKey<T>(a: [string, T], b: [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** Builds a profile from parsed trace events (in the order parseStrace gives them). */
export function buildProfile(events: Iterable<SyscallEvent>, options: ProfileOptions = {}): Profile {
  const builder = new ProfileBuilder(normalizePath(options.initialCwd ?? '/'), options.startTime);
  for (const event of events) builder.handle(event);
  return builder.finish();
}

export interface ProfileJson {
  startTime?: number;
  timeline: Timeline;
  accesses: PathAccess[];
  failures: PathFailure[];
  processes: ProcessInfo[];
  syscalls: Record<string, number>;
  unresolved: number;
}

function processJson({ pid, parentPid, thread, execs, exitCode, signal }: ProcessInfo): ProcessInfo {
  return { pid, parentPid, thread, execs, exitCode, signal } as ProcessInfo;
}

/** A stable, JSON-friendly copy: arrays sorted by path (or pid), object keys sorted. */
export function profileToJson(profile: Profile): ProfileJson {
  const json: ProfileJson = {
    timeline: { ...profile.timeline },
    accesses: [...profile.accesses.values()].sort((a, b) => byKey([a.path, a], [b.path, b])),
    failures: [...profile.failures.values()].sort((a, b) => byKey([a.path, a], [b.path, b])),
    processes: [...profile.processes.values()].sort((a, b) => a.pid - b.pid).map(processJson),
    syscalls: Object.fromEntries(Object.entries(profile.syscalls).sort(byKey)),
    unresolved: profile.unresolved,
  };
  if (profile.startTime !== undefined) json.startTime = profile.startTime;
  return JSON.parse(JSON.stringify(json)) as ProfileJson;
}
