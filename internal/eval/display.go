package eval

import (
	"path"
	"path/filepath"
	"strings"
)

// DisplayPath is how reports and the API name a file or folder a user did
// not write themselves: a node's output in a blob store, by its reference
// ("blob:jobs/<job>/<node>/<output>/...") or a local copy
// (".../blobs/jobs/<job>/<node>/<output>..."), by node and output
// ("tune/model", "prep/dataset/validation.jsonl"), anything else by its
// last element ("stories260K"), never by the server's folders. "" stays "".
func DisplayPath(p string) string {
	if p == "" {
		return ""
	}
	p = strings.TrimRight(filepath.ToSlash(p), "/")
	if rest, ok := strings.CutPrefix(p, "blob:jobs/"); ok {
		if _, under, ok := strings.Cut(rest, "/"); ok && under != "" {
			return under
		}
	}
	if _, rest, ok := strings.Cut(p, "/blobs/jobs/"); ok {
		if _, under, ok := strings.Cut(rest, "/"); ok && under != "" {
			return under
		}
	}
	return path.Base(p)
}
