// The UI never shows a server's paths: a path shows as its last element (a
// model's folder name, a dataset's file name), and a version as its first
// twelve hex digits.

/** basename keeps the last element of a path. */
export const basename = (p: string) => p.replace(/[\\/]+$/, '').split(/[\\/]/).pop() || p;

/** isPath says whether a whole value reads as a file path (absolute, ./ or ../, or a/b without spaces, not a URL). */
export const isPath = (v: unknown): v is string =>
  typeof v === 'string' && (/^(\/|[A-Za-z]:\\|\.\.?\/)/.test(v) || (v.includes('/') && !/\s/.test(v) && !/^[a-z][\w+.-]*:/i.test(v)));

// An absolute path inside a text: a slash after the start, a space, a quote, "=", "(", "[" or ","
// (not after ":" or another slash, so URLs stay whole), then at least one more character.
const ABS = /(^|[\s"'=([,])((?:\/[^\s"'()[\],:/]+)+\/?)/g;

/** stripPaths cuts every absolute path inside a text to its last element ("open /srv/d/x.json: eof" → "open x.json: eof"). */
export const stripPaths = (s: string) => s.replace(ABS, (_, pre: string, p: string) => pre + basename(p));

/** scrub returns v with every path-like string, deep inside objects and lists too, cut to its last element. */
export function scrub(v: unknown): unknown {
  if (typeof v === 'string') return isPath(v) ? basename(v) : stripPaths(v);
  if (Array.isArray(v)) return v.map(scrub);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, scrub(x)]));
  return v;
}

/** shortVersion writes a content version ("sha256:…" or bare hex) as its first 12 hex digits. */
export function shortVersion(v?: string | null): string {
  if (!v) return '—';
  const hex = v.replace(/^sha256:/, '');
  return hex.length > 12 ? hex.slice(0, 12) : hex;
}
