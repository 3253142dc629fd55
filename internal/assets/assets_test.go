package assets

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPaths(t *testing.T) {
	root := RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("RepoRoot %s has no go.mod", root)
	}
	if p := Path(t, "models", "stories260K", "config.json"); filepath.Dir(filepath.Dir(filepath.Dir(p))) != Dir(t) {
		t.Errorf("Path = %s, not under %s", p, Dir(t))
	}
}
