/** Why a path is kept in the slim image. Every kept path has at least one. */
export type KeepReason =
  | 'traced-exec'
  | 'traced-open'
  | 'traced-mmap'
  | 'traced-stat'
  | 'traced-list'
  | 'symlink'
  | 'elf-interpreter'
  | 'elf-needed'
  | 'shebang'
  | 'nft'
  | 'rule'
  | 'user-include'
  | 'user-exe';

export interface KeepEntry {
  /** absolute path in the image */
  path: string;
  reasons: KeepReason[];
  /** for derived reasons, the path that caused it (the loading ELF, the script, the traced module) */
  from?: string;
  /** seconds since the trace began when the run first touched it */
  firstAt?: number;
}

/** The set of paths a slim image keeps, each with the reasons it is kept: an audit log. */
export class KeepSet {
  private readonly entries = new Map<string, KeepEntry>();

  add(path: string, reason: KeepReason, details: { from?: string; firstAt?: number } = {}): boolean {
    const existing = this.entries.get(path);
    if (existing) {
      if (!existing.reasons.includes(reason)) existing.reasons.push(reason);
      if (details.firstAt !== undefined && (existing.firstAt === undefined || details.firstAt < existing.firstAt)) existing.firstAt = details.firstAt;
      if (existing.from === undefined && details.from !== undefined) existing.from = details.from;
      return false;
    }
    const entry: KeepEntry = { path, reasons: [reason] };
    if (details.from !== undefined) entry.from = details.from;
    if (details.firstAt !== undefined) entry.firstAt = details.firstAt;
    this.entries.set(path, entry);
    return true;
  }

  delete(path: string): void {
    this.entries.delete(path);
  }

  has(path: string): boolean {
    return this.entries.has(path);
  }

  get(path: string): KeepEntry | undefined {
    return this.entries.get(path);
  }

  paths(): string[] {
    return [...this.entries.keys()].sort();
  }

  /** entries sorted by path, reasons sorted: stable output for --profile-out */
  list(): KeepEntry[] {
    return this.paths().map((p) => {
      const e = this.entries.get(p)!;
      return { ...e, reasons: [...e.reasons].sort() };
    });
  }

  get size(): number {
    return this.entries.size;
  }
}
