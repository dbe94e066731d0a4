/**
 * What `-Xlog:class+load` (with `-Xshare:off`, so every JDK class names its module) says a run loaded:
 * classes per JDK module, classes per class-path jar, and the CLDR locales whose data was loaded.
 * Lines look like `[class,load] java.lang.Object source: jrt:/java.base`, with any decorations before.
 */
export interface ModuleUse {
  classes: number;
  /** the first class the run loaded from the module */
  first: string;
}

export interface ClassLoadLog {
  modules: Map<string, ModuleUse>;
  /** jar path → the classes the run loaded from it */
  jars: Map<string, Set<string>>;
  /** BCP 47 tags of the locales the run loaded `jdk.localedata` resources for (`ja`, `zh-Hant-TW`) */
  locales: Set<string>;
  /** class-load lines read */
  lines: number;
  /** classes that came from a CDS archive, which names no module: CDS was on despite -Xshare:off */
  fromSharedArchive: number;
}

const LINE = /\[class,load\]\s+(\S+)\s+source:\s+(.+?)\s*$/;
const LOCALE_SUFFIX = /_([a-z]{2,3}(?:_[A-Z][a-z]{3})?(?:_(?:[A-Z]{2}|\d{3}))?)$/;

/** `file:/usr/share/java/x.jar` and `jar:file:/a.jar!/` → `/usr/share/java/x.jar`; anything else → undefined. */
function jarPath(source: string): string | undefined {
  const m = /^(?:jar:)?file:(\/[^!]*\.jar)(?:!.*)?$/.exec(source);
  return m ? decodeURIComponent(m[1]!) : undefined;
}

export function localeOfResourceClass(name: string): string | undefined {
  const simple = name.slice(name.lastIndexOf('.') + 1);
  const m = LOCALE_SUFFIX.exec(simple);
  return m ? m[1]!.replaceAll('_', '-') : undefined;
}

export function parseClassLoadLog(text: string, into?: ClassLoadLog): ClassLoadLog {
  const log = into ?? { modules: new Map(), jars: new Map(), locales: new Set(), lines: 0, fromSharedArchive: 0 };
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    log.lines++;
    const [, name, source] = m as unknown as [string, string, string];
    if (source === 'shared objects file' || source.startsWith('shared objects file ')) log.fromSharedArchive++;
    if (source.startsWith('jrt:/')) {
      const module = source.slice('jrt:/'.length).split('/')[0]!;
      const use = log.modules.get(module);
      if (use) use.classes++;
      else log.modules.set(module, { classes: 1, first: name });
      if (module === 'jdk.localedata') {
        const locale = localeOfResourceClass(name);
        if (locale) log.locales.add(locale);
      }
      continue;
    }
    const jar = jarPath(source);
    if (jar) {
      const classes = log.jars.get(jar) ?? new Set<string>();
      classes.add(name);
      log.jars.set(jar, classes);
    }
  }
  return log;
}
