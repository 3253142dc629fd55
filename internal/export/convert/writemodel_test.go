//go:build integration && gen

package convert

import (
	"os"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/export/exporttest"
	"github.com/whetstone/whetstone/internal/safetensors"
)

// TestWriteModel writes the exporttest shape $WHET_WRITE_MODEL (NAME=DIR)
// for testdata/llamacpp/gen.sh (build tags integration and gen).
func TestWriteModel(t *testing.T) {
	name, out, ok := strings.Cut(os.Getenv("WHET_WRITE_MODEL"), "=")
	if !ok {
		t.Fatal("set WHET_WRITE_MODEL=NAME=DIR")
	}
	if _, ok := exporttest.Named[name]; !ok {
		t.Fatalf("unknown model %q", name)
	}
	exporttest.Model(t, out, exporttest.Named[name], safetensors.F32)
}

