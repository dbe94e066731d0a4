// Sections of a Markdown file that one benchmark owns and others keep: between
// <!-- section:NAME --> and <!-- /section:NAME -->.
import { fs } from 'zx';

const pattern = (name) => new RegExp(`<!-- section:${name} -->\\n[\\s\\S]*?<!-- /section:${name} -->\\n?`);

/** Puts the section in the file: in place of its earlier version, or at the end. */
export async function writeSection(file, name, lines) {
  const block = [`<!-- section:${name} -->`, ...lines, `<!-- /section:${name} -->`, ''].join('\n');
  const text = (await fs.pathExists(file)) ? await fs.readFile(file, 'utf8') : '';
  const next = pattern(name).test(text) ? text.replace(pattern(name), block) : `${text.replace(/\n*$/, '\n\n')}${block}`;
  await fs.writeFile(file, next);
}

/** Every section in the file, as text to append when another benchmark rewrites the rest. */
export async function keptSections(file) {
  if (!(await fs.pathExists(file))) return '';
  const text = await fs.readFile(file, 'utf8');
  return [...text.matchAll(/<!-- section:([\w-]+) -->\n[\s\S]*?<!-- \/section:\1 -->\n?/g)].map((m) => m[0]).join('\n');
}
