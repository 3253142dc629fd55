// Package sandbox decides which server paths a job may read: the one place
// that says so. A Policy holds allowed root folders; a path is allowed when,
// resolved against the work folder with every symbolic link followed, it lies
// under one of them. Pipeline validation applies it to every param that names
// a server path (dataset sources, base models, tokenizers...), so a refused
// path never reaches an agent, and the orchestrator applies it again where it
// opens a source.
//
// A refusal never says whether the path exists: the same error comes for a
// missing file and for one outside the roots.
package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrRefused is wrapped by every refusal.
var ErrRefused = errors.New("path not allowed")

// Policy allows paths under its roots. A nil *Policy allows everything
// (`whet run`, a local user running their own file).
type Policy struct {
	workDir string
	roots   []string // absolute, symlinks resolved, cleaned
	deny    []string // the server's own files and folders, resolved
}

// New returns a policy allowing roots (relative ones resolve against
// workDir), but never deny or anything under it: the server's own files
// (its data folder with every team's blobs, its database, its keys), which
// an allowed root may well contain (`--allow-path .` above ./whet-data).
// A root that does not exist is an error: it is configuration.
func New(workDir string, roots []string, deny ...string) (*Policy, error) {
	wd, err := filepath.Abs(workDir)
	if err != nil {
		return nil, fmt.Errorf("sandbox: work folder: %w", err)
	}
	p := &Policy{workDir: wd}
	for _, d := range deny {
		if strings.TrimSpace(d) == "" {
			continue
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(wd, d)
		}
		res, err := resolveExisting(filepath.Clean(d))
		if err != nil {
			return nil, fmt.Errorf("sandbox: server file %s: %w", d, err)
		}
		p.deny = append(p.deny, res)
	}
	for _, r := range roots {
		if strings.TrimSpace(r) == "" {
			continue
		}
		if !filepath.IsAbs(r) {
			r = filepath.Join(wd, r)
		}
		res, err := filepath.EvalSymlinks(filepath.Clean(r))
		if err != nil {
			return nil, fmt.Errorf("sandbox: --allow-path %s: %w", r, err)
		}
		p.roots = append(p.roots, res)
	}
	return p, nil
}

// Roots returns the allowed roots, resolved.
func (p *Policy) Roots() []string {
	if p == nil {
		return nil
	}
	return append([]string(nil), p.roots...)
}

// Resolve returns path as an absolute path with symbolic links followed, if
// it lies under an allowed root; else an error wrapping ErrRefused that does
// not tell whether the path exists.
func (p *Policy) Resolve(path string) (string, error) {
	if p == nil {
		if !filepath.IsAbs(path) {
			return path, nil
		}
		return filepath.Clean(path), nil
	}
	refuse := func() (string, error) {
		if len(p.roots) == 0 {
			return "", fmt.Errorf("%w: %q: this server reads no server paths (an admin allows folders with --allow-path); upload the file instead", ErrRefused, path)
		}
		return "", fmt.Errorf("%w: %q is not under a folder this server allows (--allow-path); upload the file instead", ErrRefused, path)
	}
	if path == "" || strings.ContainsRune(path, 0) {
		return refuse()
	}
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(p.workDir, abs)
	}
	res, err := resolveExisting(filepath.Clean(abs))
	if err != nil || !p.allowed(res) {
		return refuse()
	}
	// Only files and folders: a named pipe, device or socket under an
	// allowed folder would block or never end a read (hashing a source for
	// the cache reads it whole).
	fi, err := os.Stat(res)
	if err == nil && !fi.Mode().IsRegular() && !fi.IsDir() {
		return "", fmt.Errorf("%w: %q is not a regular file or folder (%s)", ErrRefused, path, fileKind(fi.Mode()))
	}
	for _, d := range p.deny {
		if under(d, res) {
			// Read whole (a folder source), it would read them.
			return "", fmt.Errorf("%w: %q holds the server's own files (its data folder or keys); name a file or a folder without them", ErrRefused, path)
		}
	}
	return res, nil
}

// under reports whether res is dir or lies under it.
func under(res, dir string) bool {
	return res == dir || strings.HasPrefix(res, dir+string(filepath.Separator)) || dir == string(filepath.Separator)
}

// denied reports whether res (absolute, links resolved) is or lies under
// one of the server's own files.
func (p *Policy) denied(res string) bool {
	for _, d := range p.deny {
		if under(res, d) {
			return true
		}
	}
	return false
}

// allowed reports whether res (absolute, links resolved) lies under a root
// and not under a denied path.
func (p *Policy) allowed(res string) bool {
	if p.denied(res) {
		return false
	}
	for _, r := range p.roots {
		if under(res, r) {
			return true
		}
	}
	return false
}

// fileKind names a special file's kind for an error.
func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// resolveExisting follows the symbolic links of the longest existing prefix
// of abs and appends the rest, so a path to a file not written yet still
// resolves to where it would be.
func resolveExisting(abs string) (string, error) {
	rest := ""
	cur := abs
	for i := 0; i < 256; i++ {
		res, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(res, rest), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return "", err
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
	return "", errors.New("path too deep")
}
