// Package redact hides the server's own folders in what its APIs serve
// (/api/v1 and the OpenAI-compatible /v1 share one Paths): a path under one
// of the server's roots is served as its display name, so a user of a team
// never learns the server's folder layout.
package redact

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"

	"github.com/whetstone/whetstone/internal/eval"
)

// Paths hides the server's own folders in what an API serves: a
// path under one of its roots (the data folder with its blobs, scratch and
// cache, the work folder, the allowed roots) becomes its name (displayName:
// ".../blobs/jobs/<job>/tune/model" becomes "tune/model", ".../stories260K"
// "stories260K"), so a user of a team never learns the server's folder
// layout. Paths as the pipeline wrote them
// (relative to the work folder) are left alone: they are the user's own.
//
// Agents write display forms where they can; this is the edge's backstop for
// the paths that must stay internal (an artifact's meta that successors
// read, a report that another agent reads, an error from the OS).
type Paths struct {
	roots  [][]byte // absolute, cleaned, longest first
	firsts string   // the roots' first bytes
}

// notPath are the bytes a redacted path stops at after its root:
// whitespace, quotes, JSON escapes and punctuation that ends a path in
// prose or markup.
const notPath = " \t\r\n\"'<>\\,;:()[]{}`"

var endsPath = func() (t [256]bool) {
	for i := range len(notPath) {
		t[notPath[i]] = true
	}
	return t
}()

// NewPaths returns a redactor of roots (each also in its symlink-resolved
// form); nil when there is none. "/" is never a root. A nil *Paths
// redacts nothing.
func NewPaths(roots []string) *Paths {
	var rs []string
	add := func(p string) {
		p = filepath.Clean(p)
		if p == string(filepath.Separator) || !filepath.IsAbs(p) || slices.Contains(rs, p) {
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
	// Longest first, so the deepest root matches.
	slices.SortFunc(rs, func(a, b string) int { return len(b) - len(a) })
	pr := &Paths{}
	for _, r := range rs {
		pr.roots = append(pr.roots, []byte(r))
		if !strings.ContainsRune(pr.firsts, rune(r[0])) {
			pr.firsts += r[:1]
		}
	}
	return pr
}

// Bytes returns b with every path under a root replaced by its name
// (displayName); b itself when it names none (the common case costs one
// scan per root).
func (r *Paths) Bytes(b []byte) []byte {
	if r == nil || !r.names(b) {
		return b
	}
	return r.appendRedacted(make([]byte, 0, len(b)), b)
}

// appendRedacted appends b, redacted, to dst.
func (r *Paths) appendRedacted(dst, b []byte) []byte {
	last := 0
	for i := 0; i < len(b); {
		var j int
		if len(r.firsts) == 1 {
			j = bytes.IndexByte(b[i:], r.firsts[0])
		} else {
			j = bytes.IndexAny(b[i:], r.firsts)
		}
		if j < 0 {
			break
		}
		p := i + j
		i = p + 1
		for _, root := range r.roots {
			if !bytes.HasPrefix(b[p:], root) {
				continue
			}
			end := p + len(root)
			if end < len(b) && b[end] != '/' && b[end] != filepath.Separator && !endsPath[b[end]] {
				continue // a longer name that only starts like a root
			}
			for end < len(b) && !endsPath[b[end]] {
				end++
			}
			dst = append(dst, b[last:p]...)
			dst = append(dst, displayName(string(b[p:end]))...)
			last, i = end, end
			break
		}
	}
	return append(dst, b[last:]...)
}

// String is Bytes for a string.
func (r *Paths) String(s string) string {
	if r == nil || !r.names([]byte(s)) {
		return s
	}
	return string(r.Bytes([]byte(s)))
}

// Any redacts the strings in a decoded JSON value (maps and slices in
// place) and returns it.
func (r *Paths) Any(v any) any {
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

func (r *Paths) names(b []byte) bool {
	for _, root := range r.roots {
		if bytes.Contains(b, root) {
			return true
		}
	}
	return false
}

// displayName is how the API names a path under a root: eval.DisplayPath
// ("tune/model" for a node's output in the blob store, else the last
// element).
func displayName(p string) string { return eval.DisplayPath(p) }

// Job redacts an encoded store.Job but keeps its "spec" as the user wrote
// it: clients re-run a job from its spec, and the paths in it are the
// user's own.
func (r *Paths) Job(b []byte) []byte {
	if r == nil || !r.names(b) {
		return b
	}
	start, end := specSpan(b)
	if start < 0 {
		return r.Bytes(b)
	}
	out := r.appendRedacted(make([]byte, 0, len(b)), b[:start])
	out = append(out, b[start:end]...)
	return r.appendRedacted(out, b[end:])
}

// specSpan returns where the top-level "spec" member's value lies in the
// JSON object b, or -1, -1. The store encodes a job's members in the order
// of store.Job, spec among the first few and before any member that holds
// user text other than the job's name, where a quote is escaped: the first
// `"spec":` after a '{' or ',' is the member.
func specSpan(b []byte) (int, int) {
	for off := 0; ; {
		k := bytes.Index(b[off:], []byte(`"spec":`))
		if k < 0 {
			return -1, -1
		}
		k += off
		off = k + 1
		if prev := bytes.TrimRight(b[:k], " \t\r\n"); len(prev) == 0 || (prev[len(prev)-1] != ',' && prev[len(prev)-1] != '{') {
			continue
		}
		start := k + len(`"spec":`)
		dec := json.NewDecoder(bytes.NewReader(b[start:]))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return -1, -1
		}
		return start, start + int(dec.InputOffset())
	}
}
