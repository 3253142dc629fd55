package tokenizer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestEncodeBatchMatchesEncode(t *testing.T) {
	t.Parallel()
	texts := readTexts(t)
	for _, name := range []string{"qwen3", "llama2-spm"} {
		tok := load(t, name)
		many := slices.Repeat(texts, 5)
		got := tok.EncodeBatch(many, true)
		for i, s := range many {
			if want := tok.Encode(s, true); !slices.Equal(got[i], want) {
				t.Fatalf("%s: EncodeBatch[%d] = %v, want %v", name, i, got[i], want)
			}
		}
	}
}

func TestNamedTemplates(t *testing.T) {
	t.Parallel()
	var c config
	err := parseConfig([]byte(`{"chat_template": [{"name": "default", "template": "D{{ messages[0].content }}"},
		{"name": "tool_use", "template": "T{{ tools | length }}"}]}`), &c)
	if err != nil {
		t.Fatal(err)
	}
	tok := &Tokenizer{cfg: c}
	msgs := []map[string]any{{"role": "user", "content": "x"}}
	for _, tc := range []struct{ name, want string }{{"", "Dx"}, {"default", "Dx"}, {"tool_use", "T1"}} {
		got, err := tok.ApplyChatTemplate(msgs, ChatOptions{Template: tc.name, Tools: []map[string]any{{"type": "function"}}})
		if err != nil || got != tc.want {
			t.Errorf("template %q: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := tok.ApplyChatTemplate(msgs, ChatOptions{Template: "nope"}); !errors.Is(err, ErrNoChatTemplate) {
		t.Errorf("unknown template: err = %v, want ErrNoChatTemplate", err)
	}
	if names := tok.TemplateNames(); !slices.Equal(names, []string{"default", "tool_use"}) {
		t.Errorf("TemplateNames = %v", names)
	}
	var te *TemplateError
	bad := &Tokenizer{cfg: config{Templates: map[string]string{"default": "{{ raise_exception('no system role') }}"}}}
	if _, err := bad.ApplyChatTemplate(msgs, ChatOptions{}); !errors.As(err, &te) || te.Message != "no system role" {
		t.Errorf("raise_exception: err = %v", err)
	}
}

func ExampleTokenizer_Encode() {
	tok, err := Load(filepath.Join("..", "..", "..", "shared", "assets", "tokenizers", "qwen3"))
	if err != nil {
		fmt.Println(err)
		return
	}
	ids := tok.Encode("Hello world", false)
	fmt.Println(ids, tok.Decode(ids, false))
	// Output: [9707 1879] Hello world
}

func ExampleTokenizer_ApplyChatTemplate() {
	tok, err := Load(filepath.Join("..", "..", "..", "shared", "assets", "tokenizers", "smollm2-135m"))
	if err != nil {
		fmt.Println(err)
		return
	}
	text, err := tok.ApplyChatTemplate([]map[string]any{{"role": "user", "content": "Hi"}}, ChatOptions{AddGenerationPrompt: true})
	fmt.Printf("%q %v\n", text, err)
	// Output: "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n" <nil>
}

func TestVocab(t *testing.T) {
	t.Parallel()
	q := load(t, "qwen3").Vocab()
	if q.Kind != "bpe" || len(q.Tokens) != 151669 || len(q.Merges) != 151387 || q.Merges[0] != "Ġ Ġ" || q.PreTokenizer != qwen2Pattern {
		t.Errorf("qwen3: kind %s, %d tokens, %d merges, first %q, pattern %q", q.Kind, len(q.Tokens), len(q.Merges), q.Merges[0], q.PreTokenizer)
	}
	if q.Types[151643] != TypeControl || q.Types[0] != TypeNormal || q.EOS != 151645 || q.AddBOS {
		t.Errorf("qwen3: types %d %d, eos %d, addBOS %v", q.Types[151643], q.Types[0], q.EOS, q.AddBOS)
	}
	s := load(t, "stories260K").Vocab()
	if s.Kind != "spm-bpe" || len(s.Scores) != 512 || s.Types[0] != TypeUnknown || s.Types[1] != TypeControl || s.Types[3] != TypeByte || !s.AddBOS || s.BOS != 1 {
		t.Errorf("stories260K: %+v", s.Kind)
	}
	l := load(t, "llama-legacy").Vocab()
	if l.Kind != "bpe-sp" || !l.AddBOS || l.Types[3] != TypeByte || l.UNK != 0 {
		t.Errorf("llama-legacy: kind %s addBOS %v type %d unk %d", l.Kind, l.AddBOS, l.Types[3], l.UNK)
	}
}

// TestLlamaPostProcessor: for Llama tokenizer classes, add_bos_token / add_eos_token in
// tokenizer_config.json decide the special tokens, as transformers' LlamaTokenizerFast does.
func TestLlamaPostProcessor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		config string
		want   []int
	}{
		{`{"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "add_bos_token": true, "add_eos_token": true}`, []int{1, 2}},
		{`{"tokenizer_class": "LlamaTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "add_bos_token": false}`, []int{}},
		{`{"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "add_bos_token": false}`, []int{1}}, // tokenizer.json decides
	} {
		dir := t.TempDir()
		b, err := os.ReadFile("testdata/llama-legacy/tokenizer.json")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(tc.config), 0o644); err != nil {
			t.Fatal(err)
		}
		tok, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		plain := tok.Encode("hi", false)
		got := tok.Encode("hi", true)
		var specials []int
		for _, id := range got {
			if !slices.Contains(plain, id) {
				specials = append(specials, id)
			}
		}
		if specials == nil {
			specials = []int{}
		}
		if !slices.Equal(specials, tc.want) {
			t.Errorf("%s: special ids %v, want %v", tc.config, specials, tc.want)
		}
	}
}

func TestRustLower(t *testing.T) {
	t.Parallel()
	// Expected values from Rust's str::to_lowercase (Unicode full case mapping).
	for in, want := range map[string]string{"ABC": "abc", "İstanbul": "i\u0307stanbul", "ΟΔΟΣ": "οδος", "ΟΔΟΣ ΣΑ": "οδος σα", "Σ": "σ", "AΣb": "aσb"} {
		if got := rustLower(in); got != want {
			t.Errorf("rustLower(%q) = %q, want %q", in, got, want)
		}
	}
}
