package verify

import (
	"fmt"
	"slices"
	"strings"

	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/data/template"
	"github.com/whetstone/whetstone/internal/export/gguf"
	"github.com/whetstone/whetstone/internal/export/ollama"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// TemplateCheck is the outcome of Templates.
type TemplateCheck struct {
	Family string `json:"family"`
	Passed bool   `json:"passed"`
	// Conversations is the number of conversations rendered.
	Conversations int `json:"conversations"`
	// EndOfTurn is what the model was trained to emit after an answer.
	EndOfTurn string   `json:"end_of_turn"`
	Stops     []string `json:"stops"`
	Problems  []string `json:"problems,omitempty"`
}

// TemplateParams are the inputs of Templates.
type TemplateParams struct {
	// Kind is the preprocess template the model was trained with
	// (template.Alpaca, template.Chat, template.None).
	Kind string
	// Chat renders the model's own chat template (Kind chat).
	Chat template.ChatTemplater
	// EOS is the text of the EOS token the trainer appends.
	EOS string
	// Family is the Modelfile's chat family.
	Family ollama.Family
	// GGUF is the exported file, Modelfile its Modelfile as written.
	GGUF      *gguf.File
	Modelfile *ollama.Modelfile
}

// sampleConversations are rendered by Templates: single-turn, with and
// without a system prompt (the shapes every template renders alike).
var sampleConversations = [][]record.Message{
	{{Role: "user", Content: "Write a short story about a brave cat."}, {Role: "assistant", Content: "Once upon a time, a cat named Tom saved the day."}},
	{{Role: "system", Content: "You are a kind storyteller."}, {Role: "user", Content: "What did the dog find?"}, {Role: "assistant", Content: "The dog found a red ball."}},
}

// Templates renders sample conversations as the model was trained on them
// (package data/template, which preprocess uses) and with the chat template
// stored in the GGUF and the Modelfile's TEMPLATE (as Ollama renders it),
// and requires the same prompt text up to a leading BOS string, which
// llama.cpp and Ollama add as a token. It also requires that what the model
// was trained to emit after an answer starts with one of the Modelfile's
// stop strings, and that the GGUF's EOS token is the trainer's and a stop.
func Templates(p *TemplateParams) *TemplateCheck {
	tc := &TemplateCheck{Family: string(p.Family)}
	if p.Modelfile != nil {
		tc.Stops = p.Modelfile.Stops
	}
	fail := func(format string, a ...any) { tc.Problems = append(tc.Problems, fmt.Sprintf(format, a...)) }
	tokens, _ := p.GGUF.Get("tokenizer.ggml.tokens")
	toks, _ := tokens.([]string)
	tokText := func(key string) string {
		id, ok := p.GGUF.Uint(key)
		if !ok || id >= uint64(len(toks)) {
			return ""
		}
		return toks[id]
	}
	bos, eos := tokText("tokenizer.ggml.bos_token_id"), tokText("tokenizer.ggml.eos_token_id")
	if eos != p.EOS {
		fail("gguf tokenizer.ggml.eos_token_id is %q, the trainer appends %q", eos, p.EOS)
	}
	if p.Modelfile != nil && eos != "" && !slices.Contains(p.Modelfile.Stops, eos) {
		fail("modelfile stops %q lack the EOS token %q", p.Modelfile.Stops, eos)
	}
	src, _ := p.GGUF.String("tokenizer.chat_template")
	if p.Family == ollama.Raw || p.Kind == template.None {
		tc.Passed = len(tc.Problems) == 0
		return tc // completion models: no chat prompt to reproduce
	}
	if src == "" {
		fail("gguf has no tokenizer.chat_template")
	}
	var ggufTmpl *tokenizer.Tokenizer
	if src != "" {
		ggufTmpl = tokenizer.NewTemplate(src, bos, eos)
	}
	trim := func(s string) string {
		if bos != "" {
			return strings.TrimPrefix(s, bos)
		}
		return s
	}
	for i, conv := range sampleConversations {
		tc.Conversations++
		row, err := template.Apply(p.Kind, &record.Record{Format: record.Messages, Messages: conv}, p.Chat)
		if err != nil {
			fail("conversation %d: training template: %v", i, err)
			continue
		}
		want := trim(row.Prompt)
		answer := conv[len(conv)-1].Content
		end := ""
		if k := strings.Index(row.Text[len(row.Prompt):], answer); k >= 0 {
			end = row.Text[len(row.Prompt)+k+len(answer):]
		}
		if strings.TrimSpace(end) == "" {
			end = p.EOS // the trainer appends EOS after the answer
		}
		if i == 0 {
			tc.EndOfTurn = end
		}
		if p.Modelfile != nil && !slices.ContainsFunc(p.Modelfile.Stops, func(s string) bool { return strings.HasPrefix(strings.TrimLeft(end, " \n"), s) }) {
			fail("conversation %d: the model was trained to end its answer with %q, which no modelfile stop %q matches", i, end, p.Modelfile.Stops)
		}
		msgs := make([]map[string]any, 0, len(conv)-1)
		var om []ollama.Message
		for _, m := range conv[:len(conv)-1] {
			msgs = append(msgs, map[string]any{"role": m.Role, "content": m.Content})
			om = append(om, ollama.Message{Role: m.Role, Content: m.Content})
		}
		if ggufTmpl != nil {
			got, err := ggufTmpl.ApplyChatTemplate(msgs, tokenizer.ChatOptions{AddGenerationPrompt: true})
			switch {
			case err != nil:
				fail("conversation %d: gguf chat template: %v", i, err)
			case trim(got) != want:
				fail("conversation %d: gguf chat template renders %q, the model was trained on %q", i, trim(got), want)
			}
		}
		if p.Modelfile != nil {
			got, err := p.Modelfile.Render(om)
			switch {
			case err != nil:
				fail("conversation %d: %v", i, err)
			case trim(got) != want:
				fail("conversation %d: modelfile TEMPLATE renders %q, the model was trained on %q", i, trim(got), want)
			}
		}
	}
	tc.Passed = len(tc.Problems) == 0
	return tc
}

// HeldOut are the instructions replayed by default: none of them is in the
// shared training sets.
var HeldOut = []string{
	"Tell me a story about a little fox who found a shiny stone.",
	"What should a bird do when it rains?",
	"Write two sentences about a happy dog in the park.",
	"Explain why the sun goes down at night.",
}

// Prompts renders instructions as single-turn prompts with the training
// template kind (see template.Apply): the text the model saw before its
// answers.
func Prompts(kind string, chat template.ChatTemplater, instructions []string) ([]string, error) {
	var out []string
	for i, in := range instructions {
		row, err := template.Apply(kind, &record.Record{Format: record.Messages,
			Messages: []record.Message{{Role: "user", Content: in}, {Role: "assistant", Content: "."}}}, chat)
		if err != nil {
			return nil, fmt.Errorf("prompt %d: %w", i, err)
		}
		out = append(out, row.Prompt)
	}
	return out, nil
}
