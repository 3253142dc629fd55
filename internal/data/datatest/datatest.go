// Package datatest has helpers for the data packages' tests: paths of the
// shared test assets, through package assets.
package datatest

import (
	"path/filepath"
	"testing"

	"github.com/whetstone/whetstone/internal/assets"
)

// Root returns the repository root (the folder holding go.mod).
func Root(tb testing.TB) string {
	tb.Helper()
	return assets.RepoRoot(tb)
}

// Asset returns the path of rel under ../shared/assets, failing the test if
// it is absent.
func Asset(tb testing.TB, rel string) string {
	tb.Helper()
	return assets.Path(tb, filepath.FromSlash(rel))
}

// Dataset returns the path of a dataset under ../shared/assets/datasets.
func Dataset(tb testing.TB, rel string) string {
	tb.Helper()
	return assets.Path(tb, "datasets", filepath.FromSlash(rel))
}
