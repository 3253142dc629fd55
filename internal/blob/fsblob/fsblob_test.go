package fsblob

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/blob/blobtest"
)

func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestImportAndLocalPath(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, []byte("hello"), 0o644)
	info, err := s.ImportFile(context.Background(), "x/y/f", src)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != 5 || info.SHA256 != "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Errorf("ImportFile info = %+v", info)
	}
	p, err := s.LocalPath("x/y/")
	if err != nil || p != filepath.Join(s.Root(), "x", "y") {
		t.Errorf("LocalPath(x/y/) = %q, %v", p, err)
	}
	if _, err := s.LocalPath("../x"); err == nil {
		t.Error("LocalPath(../x) succeeded")
	}
	// A symlink inside the root pointing out must not be followed by keys
	// with '..'; keys can't contain '..' at all.
	if _, err := s.Put(context.Background(), "a/../../../tmp/evil", nil); err == nil {
		t.Error("Put with .. succeeded")
	}
}
