package tokenizer

import (
	"errors"
	"fmt"
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
