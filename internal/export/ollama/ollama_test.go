package ollama

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	datatemplate "github.com/whetstone/whetstone/internal/data/template"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// Chat templates as the model families publish them in tokenizer_config.json
// (Meta's Llama-2-chat and Llama-3-Instruct templates, abridged to the
// message loop: no date or tool handling).
const (
	llama2Jinja = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}" +
		"{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}" +
		"{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}" +
		"{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}" +
		"{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
	llama3Jinja = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + " +
		"'<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}" +
		"{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)

func templatesDir(t *testing.T, cfg map[string]any) string {
	dir := t.TempDir()
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func asset(t *testing.T, rel string) string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "assets", rel)
		}
		dir = filepath.Dir(dir)
	}
}

// ollamaRender renders a conversation with the family's Modelfile the way
// Ollama does (its SYSTEM, for alpaca the preamble, first when the chat has
// no system message).
func ollamaRender(t *testing.T, f Family, msgs []map[string]any) string {
	t.Helper()
	mf := New("x.gguf", f, "")
	if f == Alpaca {
		mf.System = datatemplate.AlpacaPreamble
	}
	var ms []Message
	for _, m := range msgs {
		ms = append(ms, Message{m["role"].(string), m["content"].(string)})
	}
	// what Parse reads back is what renders
	back, err := Parse(mf.String())
	if err != nil {
		t.Fatal(err)
	}
	out, err := back.Render(ms)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTemplatesMatchJinja renders conversations with each family's Ollama
// TEMPLATE and with the model's Hugging Face chat template (through
// Whetstone's Jinja renderer) and requires the same prompt text, up to the
// BOS text that llama.cpp adds as a token.
func TestTemplatesMatchJinja(t *testing.T) {
	t.Parallel()
	sys := map[string]any{"role": "system", "content": "You are terse."}
	u1 := map[string]any{"role": "user", "content": "Name a colour."}
	a1 := map[string]any{"role": "assistant", "content": "Blue."}
	u2 := map[string]any{"role": "user", "content": "Another?"}
	tests := []struct {
		name   string
		dir    string
		family Family
		bos    string
		convs  [][]map[string]any
	}{
		{"smollm2 chatml", asset(t, "tokenizers/smollm2-135m"), ChatML, "", [][]map[string]any{{u1}, {sys, u1, a1, u2}}},
		{"qwen2.5 chatml", asset(t, "tokenizers/qwen2.5-instruct-config"), ChatML, "", [][]map[string]any{{sys, u1}, {sys, u1, a1, u2}}},
		{"llama3", templatesDir(t, map[string]any{"chat_template": llama3Jinja, "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}),
			Llama3, "<|begin_of_text|>", [][]map[string]any{{u1}, {sys, u1, a1, u2}}},
		{"llama2", templatesDir(t, map[string]any{"chat_template": llama2Jinja, "bos_token": "<s>", "eos_token": "</s>"}),
			Llama2, "<s>", [][]map[string]any{{u1}, {sys, u1, a1, u2}}},
		{"alpaca", templatesDir(t, map[string]any{"chat_template": Alpaca.Jinja("</s>"), "eos_token": "</s>"}),
			Alpaca, "", [][]map[string]any{{u1}, {sys, u1, a1, u2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := tokenizer.LoadTemplates(tt.dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, conv := range tt.convs {
				want, err := tok.ApplyChatTemplate(conv, tokenizer.ChatOptions{AddGenerationPrompt: true})
				if err != nil {
					t.Fatal(err)
				}
				want = strings.TrimPrefix(want, tt.bos)
				got := ollamaRender(t, tt.family, conv)
				if got != want {
					t.Errorf("conversation of %d messages:\n ollama %q\n jinja  %q", len(conv), got, want)
				}
			}
		})
	}
}

func TestDetectAndModelfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(asset(t, "tokenizers/smollm2-135m/tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tc struct {
		ChatTemplate string `json:"chat_template"`
	}
	json.Unmarshal(b, &tc)
	for jinja, want := range map[string]Family{tc.ChatTemplate: ChatML, llama2Jinja: Llama2, llama3Jinja: Llama3, Alpaca.Jinja("</s>"): Alpaca} {
		if got, ok := Detect(jinja); !ok || got != want {
			t.Errorf("Detect = %v, %v, want %v", got, ok, want)
		}
	}
	if _, ok := Detect("{{ messages }}"); ok {
		t.Error("detected a family in an unknown template")
	}
	m := New("model-q8_0.gguf", ChatML, "<|endoftext|>")
	m.Adapter = "adapter.gguf"
	got := m.String()
	want := "FROM model-q8_0.gguf\nADAPTER adapter.gguf\nTEMPLATE \"\"\"" + ChatML.Template() + "\"\"\"\n" +
		"PARAMETER stop \"<|im_start|>\"\nPARAMETER stop \"<|im_end|>\"\nPARAMETER stop \"<|endoftext|>\"\n"
	if got != want {
		t.Errorf("Modelfile:\n%s\nwant:\n%s", got, want)
	}
}

// TestDefaultSystem: with the template's built-in system prompt as SYSTEM,
// Ollama (which then sends it as the first message) renders what the Jinja
// template renders for a conversation without a system message.
func TestDefaultSystem(t *testing.T) {
	t.Parallel()
	dir := asset(t, "tokenizers/qwen2.5-instruct-config")
	b, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tc struct {
		ChatTemplate string `json:"chat_template"`
	}
	json.Unmarshal(b, &tc)
	sys := DefaultSystem(tc.ChatTemplate)
	if sys != "You are Qwen, created by Alibaba Cloud. You are a helpful assistant." {
		t.Fatalf("DefaultSystem = %q", sys)
	}
	tok, err := tokenizer.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	u := map[string]any{"role": "user", "content": "Hi"}
	want, err := tok.ApplyChatTemplate([]map[string]any{u}, tokenizer.ChatOptions{AddGenerationPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	got := ollamaRender(t, ChatML, []map[string]any{{"role": "system", "content": sys}, u})
	if got != want {
		t.Errorf("ollama %q\njinja  %q", got, want)
	}
	if s := DefaultSystem(Alpaca.Jinja("</s>")); s != "" {
		t.Errorf("alpaca has a default system %q", s)
	}
}
