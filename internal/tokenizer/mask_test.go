package tokenizer

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// maskedTexts decodes each run of masked tokens.
func maskedTexts(tok *Tokenizer, ids []int, mask []bool) []string {
	var out []string
	for i := 0; i < len(ids); {
		if !mask[i] {
			i++
			continue
		}
		j := i
		for j < len(ids) && mask[j] {
			j++
		}
		out = append(out, tok.Decode(ids[i:j], false))
		i = j
	}
	return out
}

func TestEncodeChatMask(t *testing.T) {
	t.Parallel()
	names, convs := loadConversations(t)
	conv := map[string]*Conversation{}
	for i, n := range names {
		conv[n] = convs[i]
	}
	tests := []struct {
		model, conv string
		want        []string
	}{
		{"smollm2-135m", "system-multiturn", []string{"4.<|im_end|>", "12.\n\nAnything else?<|im_end|>"}},
		{"smollm2-135m", "single", nil},
		{"qwen3", "no-system-multiturn", []string{"Blue.<|im_end|>", "<think>\n\n</think>\n\nVert — «green».<|im_end|>"}},
		{"qwen3", "reasoning", []string{"Yes, 7 is prime.<|im_end|>", "<think>\n9 is 3 squared.\n</think>\n\nNo, 9 = 3 × 3.<|im_end|>"}},
		{"qwen3", "tools", []string{
			"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich\", \"unit\": \"celsius\", \"days\": 2}}\n</tool_call>\n<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1.5, \"b\": 2}}\n</tool_call><|im_end|>",
			"<think>\n\n</think>\n\nIt is 21 °C and clear in Zürich; 1.5 + 2 = 3.5.<|im_end|>"}},
		{"qwen3", "whitespace", []string{"<think>\n\n</think>\n\n  ok  <|im_end|>"}},
	}
	for _, tc := range tests {
		t.Run(tc.model+"/"+tc.conv, func(t *testing.T) {
			t.Parallel()
			tok := load(t, tc.model)
			c := conv[tc.conv]
			ids, mask, err := tok.EncodeChat(c.Messages, ChatOptions{Tools: c.Tools, Extra: c.Extra})
			if err != nil {
				t.Fatal(err)
			}
			text, err := tok.ApplyChatTemplate(c.Messages, ChatOptions{Tools: c.Tools, Extra: c.Extra})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, tok.Encode(text, false)) {
				t.Error("EncodeChat ids differ from Encode(ApplyChatTemplate)")
			}
			if diff := cmp.Diff(tc.want, maskedTexts(tok, ids, mask)); diff != "" {
				t.Errorf("masked text (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStopTokens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		model string
		want  []string
	}{
		{"qwen3", []string{"<|im_end|>"}},
		{"smollm2-135m", []string{"<|endoftext|>", "<|im_end|>"}},
		{"gpt2", []string{"<|endoftext|>"}},
		{"stories260K", []string{"</s>"}},
	} {
		tok := load(t, tc.model)
		var got []string
		for _, id := range tok.StopTokens() {
			got = append(got, tok.Token(id))
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s stop tokens (-want +got):\n%s", tc.model, diff)
		}
	}
}

// TestEncodeChatSentencePiece: in a rendered chat, "<s>" and "</s>" from the template become BOS/EOS
// ids for tokenizer.model files (as transformers' LlamaTokenizer splits special tokens), and the masks
// cover the assistant turns.
func TestEncodeChatSentencePiece(t *testing.T) {
	t.Parallel()
	base := load(t, "stories260K")
	tok := *base
	tok.cfg.Templates = map[string]string{"default": "{% for m in messages %}{% if m.role == 'user' %}{{ bos_token }}[INST] {{ m.content }} [/INST]{% else %} {{ m.content }} {{ eos_token }}{% endif %}{% endfor %}"}
	tok.stops = []int{2}
	msgs := []map[string]any{{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Once upon a time"}, {"role": "user", "content": "More"}, {"role": "assistant", "content": "The end"}}
	ids, mask, err := tok.EncodeChat(msgs, ChatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	want = append(want, 1)
	want = append(want, base.Encode("[INST] Hi there [/INST] Once upon a time ", false)...)
	want = append(want, 2, 1)
	want = append(want, base.Encode("[INST] More [/INST] The end ", false)...)
	want = append(want, 2)
	if !slices.Equal(ids, want) {
		t.Fatalf("ids = %v, want %v", ids, want)
	}
	got := maskedTexts(base, ids, mask)
	if diff := cmp.Diff([]string{"Once upon a time", "The end"}, got); diff != "" { // Decode drops the masked </s>
		t.Errorf("masked (-want +got):\n%s", diff)
	}
	for i, m := range mask {
		if m && i > 0 && ids[i] == 2 && !mask[i-1] {
			t.Errorf("EOS at %d masked without its turn", i)
		}
	}
	if !mask[slices.Index(ids, 2)] {
		t.Error("the first </s> (end of the assistant turn) is not masked")
	}
}
