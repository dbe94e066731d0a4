/**
 * Parser for the output of `strace -f -ttt -qq -y -s 256 -o FILE`: one line per syscall,
 * `PID EPOCH.MICROS name(args) = result`, with `<unfinished ...>` / `<... name resumed>` halves when
 * pids interleave (`<detached ...>` ends one still in progress when strace detaches), `--- SIGxxx {...} ---`
 * signal lines and `+++ exited with N +++` / `+++ killed by SIGxxx +++`.
 */

export interface SyscallResult {
  /** the numeric return value (hex results such as mmap addresses too); undefined for `?` */
  value?: number;
  /** everything after `= ` */
  raw: string;
  /** `ENOENT` in `-1 ENOENT (No such file or directory)` */
  errno?: string;
  /** the `-y` annotation of a returned fd: `3</usr/lib/libc.so.6>` gives `/usr/lib/libc.so.6` */
  fdPath?: string;
}

export interface ExitStatus {
  code?: number;
  signal?: string;
  coreDumped?: boolean;
}

export interface SyscallEvent {
  type: 'syscall' | 'signal' | 'exit';
  pid: number;
  /** epoch seconds; for a merged unfinished/resumed pair, when the syscall started */
  time: number;
  /** the syscall name; `---` for signal lines and `+++` for exit lines */
  name: string;
  /** top-level arguments, raw (strings still quoted, fds still annotated) */
  args: string[];
  result: SyscallResult;
  /** set on signal lines: `SIGCHLD` */
  signal?: string;
  /** set on exit lines */
  exit?: ExitStatus;
  /** a syscall that started (`<unfinished ...>`) but whose end never appeared */
  incomplete?: true;
}

/** One line of the trace before unfinished/resumed halves are joined. */
export interface StraceLine extends SyscallEvent {
  part?: 'unfinished' | 'resumed';
  /** the argument text as printed (for joining an unfinished line with its resumed line) */
  rawArgs: string;
  /** `+++ superseded by execve in pid N +++`: thread N's execve completes under this pid */
  supersededPid?: number;
}

export interface ParseStats {
  lines: number;
  blank: number;
  /** lines that are not strace output (or are cut short) */
  garbage: number;
  /** resumed lines with no unfinished line before them */
  orphanResumed: number;
  /** unfinished lines never resumed */
  incomplete: number;
}

export function newParseStats(): ParseStats {
  return { lines: 0, blank: 0, garbage: 0, orphanResumed: 0, incomplete: 0 };
}

const UNFINISHED = ' <unfinished ...>';
/** how strace ends the line of a syscall still in progress when it detaches (on `docker stop`, see `-I 2`) */
const DETACHED = ' <detached ...>';
const HEADER = /^(?:(\d+)\s+)?(?:(\d+(?:\.\d+)?)\s+)?(?=\S)/;
const CALL = /^([A-Za-z_][A-Za-z0-9_]*)\(/;
const RESUMED = /^<\.\.\. ([A-Za-z_][A-Za-z0-9_]*) resumed>/;

/** Parses one line of the trace; undefined for blank or unrecognised lines. */
export function parseStraceLine(line: string): StraceLine | undefined {
  const text = line.replace(/\r$/, '');
  const header = HEADER.exec(text);
  if (!header) return undefined;
  const pid = header[1] === undefined ? 0 : Number(header[1]);
  const time = header[2] === undefined ? 0 : Number(header[2]);
  const body = text.slice(header[0].length).trimEnd();
  const base = { pid, time, args: [] as string[], rawArgs: '', result: { raw: '' } };

  if (body.startsWith('--- ') && body.endsWith(' ---')) {
    const inner = body.slice(4, -4);
    const space = inner.indexOf(' ');
    const signal = space === -1 ? inner : inner.slice(0, space);
    const rest = space === -1 ? '' : inner.slice(space + 1);
    return { ...base, type: 'signal', name: '---', signal, args: rest ? [rest] : [], rawArgs: rest };
  }
  if (body.startsWith('+++ ') && body.endsWith(' +++')) return parseExitLine(body.slice(4, -4), base);

  const resumed = RESUMED.exec(body);
  if (resumed) {
    let tail = body.slice(resumed[0].length);
    // a thread killed while its syscall resumes prints `<... futex resumed> <unfinished ...>) = ?`
    if (tail.startsWith(UNFINISHED)) tail = tail.slice(UNFINISHED.length);
    const close = scan(tail, 0).end;
    if (close >= tail.length) return undefined;
    const result = parseResultPart(tail.slice(close + 1));
    if (!result) return undefined;
    const rawArgs = tail.slice(0, close);
    return { ...base, type: 'syscall', name: resumed[1]!, part: 'resumed', rawArgs, args: splitArgs(rawArgs), result };
  }

  const call = CALL.exec(body);
  if (!call) return undefined;
  const name = call[1]!;
  const open = call[0].length;
  const cut = body.endsWith(UNFINISHED) ? UNFINISHED : body.endsWith(DETACHED) ? DETACHED : undefined;
  if (cut !== undefined) {
    const rawArgs = body.slice(open, body.length - cut.length);
    return { ...base, type: 'syscall', name, part: 'unfinished', rawArgs, args: splitArgs(rawArgs) };
  }
  const close = scan(body, open).end;
  if (close >= body.length) return undefined;
  const result = parseResultPart(body.slice(close + 1));
  if (!result) return undefined;
  const rawArgs = body.slice(open, close);
  return { ...base, type: 'syscall', name, rawArgs, args: splitArgs(rawArgs), result };
}

function parseExitLine(inner: string, base: Omit<StraceLine, 'type' | 'name'>): StraceLine | undefined {
  let m = /^exited with (-?\d+)$/.exec(inner);
  if (m) return { ...base, type: 'exit', name: '+++', exit: { code: Number(m[1]) } };
  m = /^killed by (\S+)( \(core dumped\))?$/.exec(inner);
  if (m) {
    const exit: ExitStatus = { signal: m[1]! };
    if (m[2]) exit.coreDumped = true;
    return { ...base, type: 'exit', name: '+++', exit };
  }
  m = /^superseded by execve in pid (\d+)$/.exec(inner);
  if (m) return { ...base, type: 'exit', name: '+++', supersededPid: Number(m[1]) };
  return undefined;
}

/** `= -1 ENOENT (No such file or directory)` and friends, given the text after the closing paren. */
function parseResultPart(after: string): SyscallResult | undefined {
  const m = /^\s*=\s*/.exec(after);
  if (!m) return undefined;
  return parseResult(after.slice(m[0].length));
}

export function parseResult(raw: string): SyscallResult {
  const result: SyscallResult = { raw };
  const m = /^(?:(0x[0-9a-fA-F]+)|(-?\d+)|\?)/.exec(raw);
  if (!m) return result;
  if (m[1] !== undefined) result.value = parseInt(m[1], 16);
  else if (m[2] !== undefined) result.value = Number(m[2]);
  let rest = raw.slice(m[0].length);
  if (rest.startsWith('<')) {
    const end = skipAnnotation(rest, 0);
    result.fdPath = unescapeC(rest.slice(1, end));
    rest = rest.slice(end + 1);
  }
  if (result.value === undefined || result.value < 0) {
    const errno = /^\s+(E[A-Z0-9]+)\b/.exec(rest);
    if (errno) result.errno = errno[1];
  }
  return result;
}

/**
 * Reads a trace: parses every line and joins `<unfinished ...>` halves with their `<... resumed>`
 * halves. Events come out in the order the syscalls started, so a fork is seen before its child's
 * first syscall even when the child ran before the parent's fork returned.
 */
export function parseStrace(input: string | Iterable<string>, stats: ParseStats = newParseStats()): SyscallEvent[] {
  const lines = typeof input === 'string' ? input.split('\n') : input;
  const events: SyscallEvent[] = [];
  const pending = new Map<number, { index: number; line: StraceLine }>();
  for (const line of lines) {
    stats.lines++;
    if (line.trim() === '') {
      stats.blank++;
      continue;
    }
    const parsed = parseStraceLine(line);
    if (!parsed) {
      stats.garbage++;
      continue;
    }
    if (parsed.supersededPid !== undefined) {
      const moved = pending.get(parsed.supersededPid);
      if (moved) {
        pending.delete(parsed.supersededPid);
        pending.set(parsed.pid, moved);
      }
      continue;
    }
    if (parsed.part === 'unfinished') {
      if (pending.has(parsed.pid)) stats.incomplete++;
      pending.set(parsed.pid, { index: events.length, line: parsed });
      events.push({ ...toEvent(parsed), incomplete: true });
      continue;
    }
    if (parsed.part === 'resumed') {
      const start = pending.get(parsed.pid);
      if (start && start.line.name === parsed.name) {
        pending.delete(parsed.pid);
        const rawArgs = start.line.rawArgs + parsed.rawArgs;
        events[start.index] = { ...toEvent(start.line), args: splitArgs(rawArgs), result: parsed.result };
        continue;
      }
      stats.orphanResumed++;
    }
    events.push(toEvent(parsed));
  }
  stats.incomplete += pending.size;
  return events;
}

/**
 * The name of every syscall in the events, sorted: failed ones, unfinished ones whose end never came,
 * resumed halves whose start is missing, and any name strace printed (`syscall_0x1c3` for a number it
 * does not know).
 */
export function syscallNames(events: Iterable<SyscallEvent>): string[] {
  const names = new Set<string>();
  for (const event of events) if (event.type === 'syscall') names.add(event.name);
  return [...names].sort();
}

function toEvent(line: StraceLine): SyscallEvent {
  const event: SyscallEvent = { type: line.type, pid: line.pid, time: line.time, name: line.name, args: line.args, result: line.result };
  if (line.signal !== undefined) event.signal = line.signal;
  if (line.exit !== undefined) event.exit = line.exit;
  return event;
}

// ---- argument text ----

/** Splits argument text at top-level commas (quotes, brackets, braces, comments and fd annotations respected). */
export function splitArgs(text: string): string[] {
  const { commas, end } = scan(text, 0);
  const args: string[] = [];
  let from = 0;
  for (const comma of [...commas, end]) {
    args.push(text.slice(from, comma).trim());
    from = comma + 1;
  }
  return args.length === 1 && args[0] === '' ? [] : args;
}

/** Walks argument text from `start` to the unmatched `)` that closes it (or the end), noting top-level commas. */
function scan(text: string, start: number): { end: number; commas: number[] } {
  const commas: number[] = [];
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '"') i = skipQuoted(text, i);
    else if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      i = close === -1 ? text.length : close + 1;
    } else if (c === '<' && isAnnotationStart(text, i)) i = skipAnnotation(text, i);
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      if (depth === 0 && c === ')') return { end: i, commas };
      if (depth > 0) depth--;
    } else if (c === ',' && depth === 0) commas.push(i);
  }
  return { end: text.length, commas };
}

/** index of the closing quote of the string opening at `i` */
function skipQuoted(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j;
  }
  return text.length;
}

/** `3</usr>` and `AT_FDCWD</app>` are annotations; `<<` in futex ops and `<unfinished ...>` are not. */
function isAnnotationStart(text: string, i: number): boolean {
  const next = text[i + 1];
  if (next === undefined || next === '<' || text[i - 1] === '<') return false;
  return /[0-9]/.test(text[i - 1] ?? '') || text.endsWith('AT_FDCWD', i);
}

/**
 * Index of the `>` closing the annotation opening at `i`. strace escapes `>` in paths (as `\76`), but
 * socket annotations contain a raw `->` inside brackets: `<TCP:[127.0.0.1:9000->127.0.0.1:5000]>`.
 */
function skipAnnotation(text: string, i: number): number {
  const isPath = text[i + 1] === '/';
  let depth = 0;
  for (let j = i + 1; j < text.length; j++) {
    const c = text[j];
    if (c === '\\') j++;
    else if (!isPath && c === '[') depth++;
    else if (!isPath && c === ']') depth = Math.max(0, depth - 1);
    else if (c === '>' && depth === 0) return j;
  }
  return text.length;
}

// ---- values ----

/** A quoted C string argument, decoded (escapes become bytes, bytes are read as UTF-8). */
export function decodeQuoted(arg: string): { value: string; truncated: boolean } | undefined {
  if (!arg.startsWith('"')) return undefined;
  const close = skipQuoted(arg, 0);
  if (close >= arg.length) return undefined;
  return { value: unescapeC(arg.slice(1, close)), truncated: arg.slice(close + 1).startsWith('...') };
}

const SIMPLE_ESCAPES: Record<string, number> = { n: 10, t: 9, r: 13, v: 11, f: 12, a: 7, b: 8 };

/** Decodes strace's C escapes (`\"`, `\\`, `\n`, `\x41`, octal `\303`) into bytes, then UTF-8. */
export function unescapeC(text: string): string {
  if (!text.includes('\\')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '\\' || i + 1 >= text.length) {
      const code = text.codePointAt(i)!;
      if (code < 0x80) bytes.push(code);
      else {
        const char = String.fromCodePoint(code);
        bytes.push(...Buffer.from(char, 'utf8'));
        i += char.length - 1;
      }
      continue;
    }
    const e = text[++i]!;
    const hex = e === 'x' ? /^[0-9a-fA-F]{1,2}/.exec(text.slice(i + 1, i + 3)) : null;
    const octal = /^[0-7]{1,3}/.exec(text.slice(i, i + 3));
    if (hex) {
      bytes.push(parseInt(hex[0], 16));
      i += hex[0].length;
    } else if (octal) {
      bytes.push(parseInt(octal[0], 8) & 0xff);
      i += octal[0].length - 1;
    } else if (e in SIMPLE_ESCAPES) bytes.push(SIMPLE_ESCAPES[e]!);
    else bytes.push(...Buffer.from(e, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** An fd argument: `3`, `3</usr/lib>`, `AT_FDCWD`, `AT_FDCWD</app>`, `5<socket:[1234]>`. */
export function parseFdArg(arg: string | undefined): { fd: number | 'AT_FDCWD'; annotation?: string } | undefined {
  const m = /^(AT_FDCWD|-?\d+)(?:<([\s\S]*)>)?$/.exec(arg ?? '');
  if (!m) return undefined;
  const parsed: { fd: number | 'AT_FDCWD'; annotation?: string } = { fd: m[1] === 'AT_FDCWD' ? 'AT_FDCWD' : Number(m[1]) };
  if (m[2] !== undefined) parsed.annotation = unescapeC(m[2]);
  return parsed;
}

/** `["node", "server.js"]` → ['node', 'server.js'] (a `...` element for a truncated array is dropped). */
export function parseStringArray(arg: string | undefined): string[] {
  if (!arg || !arg.startsWith('[') || !arg.endsWith(']')) return [];
  const values: string[] = [];
  for (const item of splitArgs(arg.slice(1, -1))) {
    const decoded = decodeQuoted(item);
    if (decoded) values.push(decoded.value);
  }
  return values;
}
