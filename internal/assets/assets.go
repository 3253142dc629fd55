// Package assets locates, for tests and benchmarks, the repository root and
// the shared real assets (models, tokenizers, datasets) that sit beside the
// repository in ../shared/assets. Nothing here is used at run time.
package assets

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the absolute path of the folder holding go.mod, found by
// walking up from the working directory (a test's package folder). It fails
// the test when there is none.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Dir returns the absolute path of ../shared/assets beside the repository.
func Dir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(RepoRoot(tb), "..", "shared", "assets")
}

// Path returns the absolute path of a file or folder under the shared assets,
// e.g. Path(t, "models", "stories260K"). It fails the test when it is missing.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{Dir(tb)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("shared asset: %v", err)
	}
	return p
}
