import type { FileRecord } from '../image/file-index.js';

export const KINDS = [
  'elf-executables',
  'shared-libraries',
  'docs-man-locale',
  'package-manager',
  'node-modules',
  'python-packages',
  'other',
] as const;
export type Kind = (typeof KINDS)[number];

export const KIND_LABELS: Record<Kind, string> = {
  'elf-executables': 'ELF executables',
  'shared-libraries': 'shared libraries',
  'docs-man-locale': 'docs, man pages, locales',
  'package-manager': 'package-manager state and caches',
  'node-modules': 'node_modules',
  'python-packages': 'Python site/dist-packages',
  other: 'other',
};

const DOCS = /^(usr\/(local\/)?share\/(doc|man|info|locale|i18n|help|gtk-doc|lintian|linda|groff)|usr\/lib\/locale)(\/|$)/;
const PACKAGE_MANAGER =
  /^(var\/lib\/(apt|dpkg|aptitude|rpm|yum|dnf|apk|pacman)|var\/cache|var\/log\/(apt|dpkg\.log|alternatives\.log)|etc\/apt|lib\/apk|usr\/local\/share\/\.cache|usr\/share\/(bug|debconf)|(root|home\/[^/]+)\/\.(npm|cache|yarn|pnpm-store|node-gyp))(\/|$)/;
const LIBRARY_NAME = /\.so(\.[0-9]+)*$/;

/**
 * Sorts a file into one kind. Path-based kinds come first, so an ELF `.so` inside node_modules or
 * site-packages counts toward those dependency trees, which is where a user would look for it.
 */
export function kindOf(record: FileRecord): Kind {
  const path = record.path;
  if (DOCS.test(path)) return 'docs-man-locale';
  if (PACKAGE_MANAGER.test(path)) return 'package-manager';
  if (/(^|\/)node_modules\//.test(path)) return 'node-modules';
  if (/(^|\/)(site|dist)-packages\//.test(path)) return 'python-packages';
  if (record.elf && LIBRARY_NAME.test(path)) return 'shared-libraries';
  // static-pie executables are ET_DYN without an interpreter, like libraries, but are not named like one
  if (record.elf === 'shared-library' && record.mode & 0o111) return 'elf-executables';
  if (record.elf === 'shared-library') return 'shared-libraries';
  if (record.elf === 'executable') return 'elf-executables';
  return 'other';
}
