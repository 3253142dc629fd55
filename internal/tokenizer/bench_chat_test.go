package tokenizer

import (
	"path/filepath"
	"testing"
)

// BenchmarkApplyChatTemplate renders the tools conversation with Qwen3's chat template (the
// template is compiled once and cached).
func BenchmarkApplyChatTemplate(b *testing.B) {
	names, convs := loadConversations(b)
	var conv *Conversation
	for i, n := range names {
		if n == "tools" {
			conv = convs[i]
		}
	}
	cfg, err := loadConfig(filepath.Join(assetsDir(b), "tokenizers/qwen3"))
	if err != nil {
		b.Fatal(err)
	}
	tok := &Tokenizer{cfg: cfg}
	opts := ChatOptions{AddGenerationPrompt: true, Tools: conv.Tools, Extra: conv.Extra}
	for b.Loop() {
		if _, err := tok.ApplyChatTemplate(conv.Messages, opts); err != nil {
			b.Fatal(err)
		}
	}
}
