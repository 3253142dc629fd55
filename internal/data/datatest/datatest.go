// Package datatest has helpers for the data packages' tests: paths of the
// shared test assets.
package datatest

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the repository root (the folder holding go.mod).
func Root(tb testing.TB) string {
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
			tb.Fatal("go.mod not found above the working folder")
		}
		dir = parent
	}
}

// Asset returns the path of rel under ../shared/assets, failing the test if
// it is absent.
func Asset(tb testing.TB, rel string) string {
	tb.Helper()
	p := filepath.Join(Root(tb), "..", "shared", "assets", rel)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("asset %s: %v", rel, err)
	}
	return p
}

// Dataset returns the path of a dataset under ../shared/assets/datasets.
func Dataset(tb testing.TB, rel string) string {
	tb.Helper()
	return Asset(tb, filepath.Join("datasets", rel))
}
