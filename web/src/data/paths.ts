// The UI never shows a server's paths: a path shows as its last element (a
// model's folder name, a dataset's file name), and a version as its first
// twelve hex digits.

/** basename keeps the last element of a path. */
export const basename = (p: string) => p.replace(/[\\/]+$/, '').split(/[\\/]/).pop() || p;

/**
 * ArtifactRef is a stored artifact's reference ("blob:jobs/JOB/NODE/OUTPUT/…",
 * as evaluation and comparison reports and model metadata record the model,
 * history and split they read) as people read it: the node and output
 * ("tune/model", "prep/dataset/validation.jsonl", as the server's
 * eval.DisplayPath names it) and the run to link to.
 */
export interface ArtifactRef {
  label: string;
  /** the run that produced it (its page is /runs/JOB) */
  job?: string;
}

/** artifactRef reads a blob reference ("blob:jobs/J/tune/model/" → tune/model of run J; "blob:datasets/ID/x.jsonl" → x.jsonl); null for any other value. */
export function artifactRef(v: unknown): ArtifactRef | null {
  if (typeof v !== 'string' || !v.startsWith('blob:')) return null;
  const key = v.slice('blob:'.length).replace(/\/+$/, '');
  const m = /^jobs\/([^/]+)\/(.+)$/.exec(key);
  if (m) return { label: m[2], job: m[1] };
  return key ? { label: basename(key) } : null;
}

/** displayRef writes a blob reference by node and output (artifactRef), any other string as it is. */
export const displayRef = (s: string) => artifactRef(s)?.label ?? s;

/** isPath says whether a whole value reads as a file path (absolute, ./ or ../, or a/b without spaces, not a URL). */
export const isPath = (v: unknown): v is string =>
  typeof v === 'string' && (/^(\/|[A-Za-z]:\\|\.\.?\/)/.test(v) || (v.includes('/') && !/\s/.test(v) && !/^[a-z][\w+.-]*:/i.test(v)));

// An absolute path inside a text: a slash after the start, a space, a quote, "=", "(", "[" or ","
// (not after ":" or another slash, so URLs stay whole), then at least one more character.
const ABS = /(^|[\s"'=([,])((?:\/[^\s"'()[\],:/]+)+\/?)/g;

// A blob reference inside a text, up to a space, quote, bracket or comma.
const REF = /blob:[^\s"'()[\],]+/g;

/** stripPaths cuts every absolute path inside a text to its last element ("open /srv/d/x.json: eof" → "open x.json: eof") and names blob references by node and output. */
export const stripPaths = (s: string) => s.replace(REF, (r) => displayRef(r)).replace(ABS, (_, pre: string, p: string) => pre + basename(p));

/** scrub returns v with every path-like string, deep inside objects and lists too, cut to its last element (a blob reference: to its node and output). */
export function scrub(v: unknown): unknown {
  if (typeof v === 'string') return artifactRef(v) ? displayRef(v) : isPath(v) ? basename(v) : stripPaths(v);
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
