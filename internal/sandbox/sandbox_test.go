package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestResolve(t *testing.T) {
	base := t.TempDir()
	allowed := filepath.Join(base, "data")
	outside := filepath.Join(base, "secret")
	for _, d := range []string{allowed, filepath.Join(allowed, "sub"), outside} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(allowed, "train.jsonl"), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(outside, "key.txt"), []byte("k"), 0o644)
	os.Symlink(filepath.Join(outside, "key.txt"), filepath.Join(allowed, "link-out"))
	os.Symlink(outside, filepath.Join(allowed, "dir-out"))
	os.Symlink(filepath.Join(allowed, "train.jsonl"), filepath.Join(allowed, "link-in"))
	p, err := New(allowed, []string{"."})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		ok   bool
	}{
		{"train.jsonl", true},
		{filepath.Join(allowed, "train.jsonl"), true},
		{"sub/not-yet-written.jsonl", true}, // inside: may not exist yet
		{"link-in", true},
		{"/etc/passwd", false},
		{"../secret/key.txt", false},
		{"sub/../../secret/key.txt", false},
		{"link-out", false},              // a symlink pointing outside
		{"dir-out/key.txt", false},       // through a linked folder
		{"../secret/missing.txt", false}, // missing and outside: the same refusal
		{"", false},
	}
	for _, c := range cases {
		got, err := p.Resolve(c.path)
		if c.ok != (err == nil) {
			t.Errorf("Resolve(%q) = %q, %v; want allowed=%v", c.path, got, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Errorf("Resolve(%q): %v does not wrap ErrRefused", c.path, err)
		}
	}
	// A refusal reads the same whether the file exists or not.
	_, e1 := p.Resolve("/etc/passwd")
	_, e2 := p.Resolve("/etc/no-such-file-here")
	if strings.ReplaceAll(e1.Error(), "/etc/passwd", "X") != strings.ReplaceAll(e2.Error(), "/etc/no-such-file-here", "X") {
		t.Errorf("refusals differ: %q vs %q", e1, e2)
	}
}

func TestNoRootsRefusesEverything(t *testing.T) {
	p, err := New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Resolve("anything.jsonl"); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "--allow-path") {
		t.Errorf("no roots: %v", err)
	}
	var nilPolicy *Policy
	if got, err := nilPolicy.Resolve("/etc/passwd"); err != nil || got != "/etc/passwd" {
		t.Errorf("nil policy: %q %v", got, err)
	}
}

func TestMissingRootIsAConfigError(t *testing.T) {
	if _, err := New(t.TempDir(), []string{"/no/such/root"}); err == nil {
		t.Error("a missing --allow-path root was accepted")
	}
}

// A named pipe or device under an allowed folder is refused: reading it
// would block (a pipe with no writer) or never end (/dev/zero).
func TestSpecialFilesRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "rows.jsonl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	p, err := New(dir, []string{dir, "/dev"})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, "/dev/zero"} {
		_, err := p.Resolve(path)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not a regular file or folder") {
			t.Errorf("Resolve(%s) = %v, want a refusal naming it not a regular file", path, err)
		}
	}
	if _, err := p.Resolve(dir); err != nil {
		t.Errorf("the folder itself: %v", err)
	}
}

// TestServerFilesRefused: the server's own files (its data folder with
// every team's blobs, its keys) are refused even under an allowed root,
// as is a folder holding them (read whole, it would read them); a folder
// beside them is allowed.
func TestServerFilesRefused(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "whet-data")
	for _, d := range []string{filepath.Join(data, "blobs", "datasets", "ds_other"), filepath.Join(root, "shared")} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(data, "blobs", "datasets", "ds_other", "rows.jsonl"), []byte("{}\n"), 0o644)
	os.WriteFile(filepath.Join(root, "jwt.secret"), []byte("k"), 0o600)
	os.WriteFile(filepath.Join(root, "shared", "train.jsonl"), []byte("{}\n"), 0o644)
	p, err := New(root, []string{"."}, data, filepath.Join(root, "jwt.secret"), filepath.Join(data, "whet.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, want string
	}{
		{"whet-data/blobs/datasets/ds_other/rows.jsonl", "not under a folder this server allows"},
		{filepath.Join(data, "whet.db"), "not under a folder this server allows"}, // not written yet
		{"whet-data", "not under a folder this server allows"},
		{"jwt.secret", "not under a folder this server allows"},
		{"shared/../whet-data/blobs", "not under a folder this server allows"},
		{".", "holds the server's own files"},
	} {
		if _, err := p.Resolve(c.path); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Resolve(%q) = %v, want a refusal (%s)", c.path, err, c.want)
		}
	}
	for _, ok := range []string{"shared", "shared/train.jsonl"} {
		if _, err := p.Resolve(ok); err != nil {
			t.Errorf("Resolve(%q): %v", ok, err)
		}
	}
}
