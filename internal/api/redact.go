package api

import (
	"bytes"
	"encoding/json"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// pathRedactor hides the server's own folders in what the API serves: a
// path under one of its roots (the data folder with its blobs, scratch and
// cache, the work folder, the allowed roots) becomes its last element, e.g.
// ".../blobs/jobs/<job>/tune/model" becomes "model", so a user of a team
// never learns the server's folder layout. Paths as the pipeline wrote them
// (relative to the work folder) are left alone: they are the user's own.
//
// Agents write display forms where they can; this is the edge's backstop for
// the paths that must stay internal (an artifact's meta that successors
// read, a report that another agent reads, an error from the OS).
type pathRedactor struct {
	roots [][]byte
	re    *regexp.Regexp
}

// pathChars is what a redacted path may continue with after its root: it
// stops at whitespace, quotes, JSON escapes and punctuation that ends a
// path in prose or markup.
const pathChars = `[^\s"'<>\\,;:()\[\]{}` + "`" + `]*`

// newPathRedactor returns a redactor of roots (each also in its
// symlink-resolved form); nil when there is none. "/" is never a root.
func newPathRedactor(roots []string) *pathRedactor {
	var rs []string
	add := func(p string) {
		if p == "" {
			return
		}
		p = filepath.Clean(p)
		if p == string(filepath.Separator) || p == "." || !filepath.IsAbs(p) || slices.Contains(rs, p) {
			return
		}
		rs = append(rs, p)
	}
	for _, r := range roots {
		if r == "" {
			continue
		}
		if abs, err := filepath.Abs(r); err == nil {
			r = abs
		}
		add(r)
		if real, err := filepath.EvalSymlinks(r); err == nil {
			add(real)
		}
	}
	if len(rs) == 0 {
		return nil
	}
	// Longest first, so the regexp's alternation prefers the deepest root.
	slices.SortFunc(rs, func(a, b string) int { return len(b) - len(a) })
	alts := make([]string, len(rs))
	pr := &pathRedactor{}
	for i, r := range rs {
		alts[i] = regexp.QuoteMeta(r)
		pr.roots = append(pr.roots, []byte(r))
	}
	pr.re = regexp.MustCompile(`(?:` + strings.Join(alts, "|") + `)` + pathChars)
	return pr
}

// Bytes returns b with every path under a root replaced by its last
// element; b itself when it names none (the common case costs one scan per
// root).
func (r *pathRedactor) Bytes(b []byte) []byte {
	if r == nil || !r.names(b) {
		return b
	}
	return r.re.ReplaceAllFunc(b, func(m []byte) []byte {
		for _, root := range r.roots {
			if rest, ok := bytes.CutPrefix(m, root); ok && (len(rest) == 0 || rest[0] == '/' || rest[0] == filepath.Separator) {
				return []byte(displayName(string(m)))
			}
		}
		return m // a longer name that only starts like a root: not a path under it
	})
}

// String is Bytes for a string.
func (r *pathRedactor) String(s string) string {
	if r == nil || !r.names([]byte(s)) {
		return s
	}
	return string(r.Bytes([]byte(s)))
}

// Any redacts the strings in a decoded JSON value (maps and slices in
// place) and returns it.
func (r *pathRedactor) Any(v any) any {
	if r == nil {
		return v
	}
	switch t := v.(type) {
	case string:
		return r.String(t)
	case map[string]any:
		for k, x := range t {
			t[k] = r.Any(x)
		}
	case []any:
		for i, x := range t {
			t[i] = r.Any(x)
		}
	}
	return v
}

func (r *pathRedactor) names(b []byte) bool {
	for _, root := range r.roots {
		if bytes.Contains(b, root) {
			return true
		}
	}
	return false
}

// displayName is the last element of p ("model" of ".../x/model/"), or,
// for a node's output in the blob store (".../blobs/jobs/<job>/<node>/..."),
// the node and the path under it ("tune/model"): which node made it is
// what a user needs to find it through the API.
func displayName(p string) string {
	p = strings.TrimRight(filepath.ToSlash(p), "/")
	if _, rest, ok := strings.Cut(p, "/blobs/jobs/"); ok {
		if _, under, ok := strings.Cut(rest, "/"); ok && under != "" {
			return under
		}
	}
	return path.Base(p)
}

// Job redacts an encoded store.Job but keeps its "spec" as the user wrote
// it: clients re-run a job from its spec, and the paths in it are the
// user's own.
func (r *pathRedactor) Job(b []byte) []byte {
	if r == nil || !r.names(b) {
		return b
	}
	start, end := specSpan(b)
	if start < 0 {
		return r.Bytes(b)
	}
	out := append([]byte(nil), r.Bytes(b[:start])...)
	out = append(out, b[start:end]...)
	return append(out, r.Bytes(b[end:])...)
}

// specSpan returns where the top-level "spec" member's value lies in the
// JSON object b, or -1, -1.
func specSpan(b []byte) (int, int) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return -1, -1
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return -1, -1
		}
		start := int(dec.InputOffset())
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return -1, -1
		}
		if k == "spec" {
			return start, int(dec.InputOffset())
		}
	}
	return -1, -1
}
