package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// chatModels maps golden folders under testdata/chat to model folders under the assets.
var chatModels = map[string]string{
	"smollm2-135m": "tokenizers/smollm2-135m",
	"qwen3":        "tokenizers/qwen3",
	"qwen2.5":      "tokenizers/qwen2.5-instruct-config",
}

func loadConversations(tb testing.TB) (names []string, convs []*Conversation) {
	tb.Helper()
	b, err := os.ReadFile("testdata/chat/conversations.json")
	if err != nil {
		tb.Fatal(err)
	}
	v, err := decodeOrdered(b)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range v.([]any) {
		m := e.(map[string]any)
		names = append(names, m["name"].(string))
		delete(m, "name")
		m[KeyOrder] = nil
		raw, err := jsonMarshalOrdered(m)
		if err != nil {
			tb.Fatal(err)
		}
		c, err := ParseConversation(raw)
		if err != nil {
			tb.Fatal(err)
		}
		convs = append(convs, c)
	}
	return names, convs
}

func TestChatTemplateGolden(t *testing.T) {
	nowFunc = func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }
	names, convs := loadConversations(t)
	toks := map[string]*Tokenizer{}
	for name, dir := range chatModels {
		cfg, err := loadConfig(filepath.Join(assetsDir(t), dir))
		if err != nil {
			t.Fatal(err)
		}
		toks[name] = &Tokenizer{cfg: cfg}
	}
	extra, _ := filepath.Glob("testdata/chat/templates/*.jinja")
	for _, f := range extra {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bos, eos := "<s>", "</s>"
		toks[strings.TrimSuffix(filepath.Base(f), ".jinja")] = &Tokenizer{cfg: config{Templates: map[string]string{"default": string(src)}, BOSToken: &bos, EOSToken: &eos}}
	}
	for name, tok := range toks {
		for i, c := range convs {
			for _, gen := range []bool{false, true} {
				file := names[i] + ".txt"
				if gen {
					file = names[i] + ".gen.txt"
				}
				t.Run(name+"/"+file, func(t *testing.T) {
					want, err := os.ReadFile(filepath.Join("testdata/chat", name, file))
					if err != nil {
						t.Fatal(err)
					}
					got, err := tok.ApplyChatTemplate(c.Messages, ChatOptions{AddGenerationPrompt: gen, Tools: c.Tools, Extra: c.Extra})
					if msg, ok := strings.CutPrefix(string(want), "ERROR: "); ok {
						// Python raised: we must fail too; raise_exception messages must match.
						if strings.HasPrefix(msg, "No filter named") {
							t.Skip("Jinja2 lacks this filter (a llama.cpp extension); the Go engine has it")
						}
						var te *TemplateError
						if err == nil {
							t.Fatalf("rendered %q, want an error like %q", got, msg)
						}
						if errors.As(err, &te) && te.Message != msg {
							t.Errorf("raise_exception(%q), want %q", te.Message, msg)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(string(want), got); diff != "" {
						t.Errorf("(-want +got):\n%s", diff)
					}
				})
			}
		}
	}
}

// TestGenerationSpans compares the output ranges of {% generation %} blocks with those recorded by
// transformers' AssistantTracker logic in Python (testdata/chat/*/*.spans.json, character offsets),
// and checks EncodeChat's mask covers exactly the tokens overlapping them.
func TestGenerationSpans(t *testing.T) {
	nowFunc = func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }
	names, convs := loadConversations(t)
	smol := load(t, "smollm2-135m")
	files, _ := filepath.Glob("testdata/chat/*/*.spans.json")
	if len(files) == 0 {
		t.Fatal("no span goldens")
	}
	for _, f := range files {
		tmplName := filepath.Base(filepath.Dir(f))
		src, err := os.ReadFile(filepath.Join("testdata/chat/templates", tmplName+".jinja"))
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(filepath.Base(f), ".spans.json")
		gen := strings.HasSuffix(base, ".gen")
		conv := slices.Index(names, strings.TrimSuffix(base, ".gen"))
		t.Run(tmplName+"/"+base, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var charSpans [][2]int
			if err := json.Unmarshal(b, &charSpans); err != nil {
				t.Fatal(err)
			}
			bos, eos := "<s>", "</s>"
			tok := *smol
			tok.cfg = config{Templates: map[string]string{"default": string(src)}, BOSToken: &bos, EOSToken: &eos}
			c := convs[conv]
			opts := ChatOptions{AddGenerationPrompt: gen, Tools: c.Tools, Extra: c.Extra}
			text, spans, err := tok.renderChat(c.Messages, opts)
			if err != nil {
				t.Fatal(err)
			}
			// Character offsets to byte offsets.
			runeStarts := []int{}
			for i := range text {
				runeStarts = append(runeStarts, i)
			}
			runeStarts = append(runeStarts, len(text))
			want := make([][2]int, len(charSpans))
			for i, s := range charSpans {
				want[i] = [2]int{runeStarts[s[0]], runeStarts[s[1]]}
			}
			if diff := cmp.Diff(want, spans, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("generation spans (-python +go):\n%s", diff)
			}
			ids, mask, err := tok.EncodeChat(c.Messages, opts)
			if err != nil {
				t.Fatal(err)
			}
			var got, wantText strings.Builder
			for i, id := range ids {
				if mask[i] {
					s, _ := tok.tokenText(id)
					got.WriteString(s)
				}
			}
			for _, s := range spans {
				wantText.WriteString(text[s[0]:s[1]])
			}
			// Token boundaries may extend past a span; the masked text must contain each span.
			for _, s := range spans {
				if s[1] > s[0] && !strings.Contains(got.String(), text[s[0]:s[1]]) {
					t.Errorf("masked text %q misses span %q", got.String(), text[s[0]:s[1]])
				}
			}
			if len(spans) > 0 && got.Len() > wantText.Len()+8*len(spans) {
				t.Errorf("masked text %q is much longer than the spans %q", got.String(), wantText.String())
			}
		})
	}
}
