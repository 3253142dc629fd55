package preprocess

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/data/datatest"
	"github.com/whetstone/whetstone/internal/data/prep"
)

// The chat templates in shared/assets have no {% generation %} markers: the
// mask comes from locating the assistant turns in the rendered text, and the
// preview shows exactly which tokens get loss.
func TestMaskPreviewChatTemplateWithoutGenerationMarkers(t *testing.T) {
	t.Parallel()
	const answer = "Hello! I am {{name}}, an AI assistant developed by {{author}}. How can I assist you today?"
	for _, tc := range []struct{ tokenizer, trained string }{
		{"smollm2-135m", answer + "<|im_end|>"},
		{"qwen3", answer + "<|im_end|>"},
	} {
		t.Run(tc.tokenizer, func(t *testing.T) {
			t.Parallel()
			tokDir := datatest.Asset(t, "tokenizers/"+tc.tokenizer)
			cfg, err := os.ReadFile(filepath.Join(tokDir, "tokenizer_config.json"))
			if err != nil || !strings.Contains(string(cfg), "chat_template") || strings.Contains(string(cfg), "generation %}") {
				t.Fatalf("want a chat template without generation markers in %s (err %v)", tokDir, err)
			}
			data := node(t, ingest.New(), agent.Params{"source": "../shared/assets/datasets/llama-factory/v1_sft_demo.jsonl"})
			out := node(t, New(), agent.Params{"tokenizer": tokDir, "validation_split": 0.0, "max_tokens": 0, "mask_preview": int64(2)}, data[0])
			mp := readStats(t, out[1].Path).MaskPreview
			if mp == nil || len(mp.Rows) != 2 || mp.NoTrainedTokens != 0 {
				t.Fatalf("mask_preview = %+v", mp)
			}
			r := mp.Rows[0]
			var all, trained strings.Builder
			n := 0
			for _, tk := range r.Tokens {
				all.WriteString(tk.Text)
				if tk.Trained {
					trained.WriteString(tk.Text)
					n++
				}
			}
			if r.Line != 1 || r.Trained != n || !strings.HasPrefix(all.String(), "<|im_start|>user\nhi<|im_end|>") {
				t.Fatalf("row %d: %d trained, text %q", r.Line, r.Trained, all.String())
			}
			if got := trained.String(); !strings.HasSuffix(got, tc.trained) || strings.Contains(got, "user") {
				t.Errorf("trained text = %q, want the assistant's answer through <|im_end|>", got)
			}
		})
	}
}

// A row whose answer lies past max_tokens keeps no trained token: it is
// counted and listed (and dropped as too long); the others are not.
func TestMaskPreviewAnswerCutByMaxTokens(t *testing.T) {
	t.Parallel()
	src := filepath.Join(t.TempDir(), "chat.jsonl")
	var b strings.Builder
	for i, user := range []string{"What is two plus two?", strings.Repeat("Please read this long question carefully. ", 40) + "Is it true?", "Name a colour."} {
		row, _ := json.Marshal(map[string]any{"messages": []map[string]string{{"role": "user", "content": user}, {"role": "assistant", "content": fmt.Sprintf("Answer %d.", i)}}})
		b.Write(append(row, '\n'))
	}
	os.WriteFile(src, []byte(b.String()), 0o644)
	data := node(t, ingest.New(), agent.Params{"source": src})
	out := node(t, New(), agent.Params{"tokenizer": datatest.Asset(t, "tokenizers/smollm2-135m"), "validation_split": 0.0, "max_tokens": int64(64)}, data[0])
	st := readStats(t, out[1].Path)
	mp := st.MaskPreview
	want := []prep.NoTrained{{Line: 2, Reason: prep.NoTrainedCut}}
	if mp == nil || mp.NoTrainedTokens != 1 || len(mp.NoTrained) != 1 || mp.NoTrained[0].Line != want[0].Line || mp.NoTrained[0].Reason != want[0].Reason || mp.NoTrained[0].Tokens <= 64 {
		t.Fatalf("mask_preview = %+v, want %+v listed", mp, want)
	}
	if len(mp.Rows) != 2 || mp.Rows[0].Line != 1 || mp.Rows[1].Line != 3 || mp.Window != 64 || st.Dropped[prep.DropTooLong] != 1 {
		t.Errorf("preview rows %+v, window %d, dropped %v", mp.Rows, mp.Window, st.Dropped)
	}
}
