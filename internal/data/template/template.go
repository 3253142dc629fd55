// Package template turns canonical records into training text: the Alpaca
// prompt format, the model's chat template (through the tokenizer package)
// or plain concatenation. Each result has the full text and the prompt
// prefix whose tokens get no loss.
package template

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// The template kinds.
const (
	Alpaca = "alpaca" // Stanford Alpaca prompt format
	Chat   = "chat"   // the tokenizer's chat template
	None   = "none"   // turns joined with blank lines
)

// ErrNoTarget is returned for a conversation without an assistant turn.
var ErrNoTarget = errors.New("no assistant turn to learn")

// Row is one training example.
type Row struct {
	// Text is the full training text: Prompt followed by the target.
	Text string `json:"text"`
	// Prompt is the prefix of Text whose tokens get no loss ("" for raw
	// text: every token is learned).
	Prompt string `json:"prompt"`
	// Messages is the conversation (up to the last assistant turn) for
	// conversational records rendered with the chat template, so the
	// trainer can mask every assistant turn with the template's assistant
	// mask. Absent with the alpaca and none templates.
	Messages []record.Message `json:"messages,omitempty"`
	// Chosen and Rejected are the two continuations of Prompt for
	// preference data (Text is Prompt + Chosen).
	Chosen   string `json:"chosen,omitempty"`
	Rejected string `json:"rejected,omitempty"`
	// Label is the KTO label.
	Label *bool `json:"label,omitempty"`
	// Tokens is the token count of Text with special tokens (and the EOS
	// the trainer appends when append_eos is set).
	Tokens int `json:"tokens"`
	// Line is the source line of the record.
	Line int `json:"source_line,omitempty"`
}

// ChatTemplater renders conversations; *tokenizer.Tokenizer satisfies it.
type ChatTemplater interface {
	ApplyChatTemplate(messages []map[string]any, opts tokenizer.ChatOptions) (string, error)
}

// AlpacaPreamble is the Alpaca prompt's opening line for rows without an
// input. Exports (the Ollama Modelfile's SYSTEM, the GGUF chat template)
// reuse it so a served model sees the prompt it was trained on.
const AlpacaPreamble = "Below is an instruction that describes a task. Write a response that appropriately completes the request."

const (
	alpacaInput   = "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n"
	alpacaNoInput = AlpacaPreamble + "\n\n"
)

// AlpacaPrompt returns the Alpaca prompt for an instruction, an optional
// input and an optional system text (which replaces the preamble).
func AlpacaPrompt(system, instruction, input string) string {
	var b strings.Builder
	switch {
	case system != "":
		b.WriteString(system + "\n\n")
	case strings.TrimSpace(input) != "":
		b.WriteString(alpacaInput)
	default:
		b.WriteString(alpacaNoInput)
	}
	b.WriteString("### Instruction:\n" + instruction + "\n\n")
	if strings.TrimSpace(input) != "" {
		b.WriteString("### Input:\n" + input + "\n\n")
	}
	b.WriteString("### Response:\n")
	return b.String()
}

// lastAssistant splits a conversation at its last assistant turn.
func lastAssistant(ms []record.Message) (int, error) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Role == "assistant" {
			return i, nil
		}
	}
	return -1, ErrNoTarget
}

// Apply renders r with the template kind. chat is needed for Chat.
func Apply(kind string, r *record.Record, chat ChatTemplater) (Row, error) {
	row := Row{Line: r.Line, Label: r.Label}
	f := r.Format.Canonical()
	if f == record.Text {
		row.Text = r.Text
		return row, nil
	}
	// The conversation and where its target starts.
	var conv []record.Message
	var rejected []record.Message
	switch f {
	case record.Preference:
		conv = append(append([]record.Message(nil), r.Messages...), r.Chosen...)
		rejected = append(append([]record.Message(nil), r.Messages...), r.Rejected...)
	default:
		conv = r.Conversation()
	}
	last, err := lastAssistant(conv)
	if err != nil {
		return row, err
	}
	conv = conv[:last+1]
	if kind == Chat && (f == record.Messages || f == record.KTO || f == record.Preference) {
		// The trainer masks per turn with the chat template; with the other
		// templates, text and prompt are what it must use.
		row.Messages = conv
	}
	switch kind {
	case Alpaca, None:
		prompt := flatPrompt(kind, r, conv[:last])
		row.Prompt, row.Text = prompt, prompt+conv[last].Content
		if f == record.Preference {
			row.Chosen = joinContent(r.Chosen)
			row.Rejected = joinContent(r.Rejected)
			row.Text = prompt + row.Chosen
		}
	case Chat:
		if chat == nil {
			return row, errors.New("chat template: no tokenizer")
		}
		opts := tokenizer.ChatOptions{}
		if r.Tools != "" {
			var tools []map[string]any
			if err := json.Unmarshal([]byte(r.Tools), &tools); err == nil {
				opts.Tools = tools
			}
		}
		full, err := chat.ApplyChatTemplate(maps(conv), opts)
		if err != nil {
			return row, fmt.Errorf("chat template: %w", err)
		}
		gen := opts
		gen.AddGenerationPrompt = true
		prompt, err := chat.ApplyChatTemplate(maps(conv[:last]), gen)
		if err != nil {
			return row, fmt.Errorf("chat template: %w", err)
		}
		if !strings.HasPrefix(full, prompt) {
			// Templates that rewrite earlier turns (dropping reasoning, say):
			// keep the common prefix.
			n := 0
			for n < len(full) && n < len(prompt) && full[n] == prompt[n] {
				n++
			}
			prompt = full[:n]
		}
		row.Prompt, row.Text = prompt, full
		if f == record.Preference {
			row.Chosen = full[len(prompt):]
			rej, err := chat.ApplyChatTemplate(maps(rejected), opts)
			if err != nil {
				return row, fmt.Errorf("chat template: %w", err)
			}
			row.Rejected = strings.TrimPrefix(rej, prompt)
		}
	default:
		return row, fmt.Errorf("unknown template %q (want alpaca, chat or none)", kind)
	}
	return row, nil
}

// flatPrompt builds the prompt of the alpaca and none templates from the
// turns before the target.
func flatPrompt(kind string, r *record.Record, before []record.Message) string {
	if r.Format.Canonical() == record.Alpaca {
		if kind == Alpaca {
			return AlpacaPrompt(r.System, r.Instruction, r.Input)
		}
		p := r.Instruction
		if strings.TrimSpace(r.Input) != "" {
			p += "\n\n" + r.Input
		}
		if r.System != "" {
			p = r.System + "\n\n" + p
		}
		return p + "\n\n"
	}
	if r.Format.Canonical() == record.Completion && kind == None {
		return r.Prompt
	}
	// A single user turn (plus an optional system turn) is the
	// instruction; longer histories are written as a transcript.
	var system, instruction string
	users := 0
	for _, m := range before {
		switch m.Role {
		case "system":
			system = m.Content
		case "user":
			users++
			instruction = m.Content
		}
	}
	if users > 1 || len(before) > users+boolInt(system != "") {
		var b strings.Builder
		for _, m := range before {
			if m.Role == "system" {
				continue
			}
			b.WriteString(titleRole(m.Role) + ": " + m.Content + "\n")
		}
		instruction = strings.TrimRight(b.String(), "\n")
	}
	if kind == Alpaca {
		return AlpacaPrompt(system, instruction, "")
	}
	if system != "" {
		instruction = system + "\n\n" + instruction
	}
	return instruction + "\n\n"
}

func titleRole(r string) string {
	if r == "" {
		return "Unknown"
	}
	return strings.ToUpper(r[:1]) + r[1:]
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func joinContent(ms []record.Message) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, m.Content)
	}
	return strings.Join(parts, "\n\n")
}

func maps(ms []record.Message) []map[string]any {
	out := make([]map[string]any, len(ms))
	for i, m := range ms {
		out[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	return out
}
