//go:build integration

package verify

import (
	"testing"

	"github.com/whetstone/whetstone/internal/export/exporttest"
)

func init() {
	slowModels = append(slowModels,
		tableModel{"qwen3-tiny", func(t testing.TB) *fixture { return random(t, exporttest.Qwen3Tiny, 16) }},
		tableModel{"llama3-untied", func(t testing.TB) *fixture { return random(t, exporttest.Llama3Untied, 16) }})
}
