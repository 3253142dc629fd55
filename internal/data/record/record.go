// Package record defines the canonical dataset record every Whetstone data
// agent exchanges, and its JSONL encoding.
//
// The dataset agent normalises whatever it reads (Alpaca, chat messages,
// ShareGPT, raw text, prompt/completion, preference, KTO) into one Record per
// row, written as one JSON object per line. Each format has one canonical
// schema (see Record.MarshalJSON); validate and preprocess read it back with
// Decode.
package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Format is a canonical record format.
type Format string

// The canonical formats. ShareGPT input is normalised to Messages (its source
// format is kept in the dataset's Meta as source_format).
const (
	Alpaca     Format = "alpaca"     // instruction, input, output (+ system)
	Messages   Format = "messages"   // messages: [{role, content}] (+ tools)
	ShareGPT   Format = "sharegpt"   // detection only; normalised to Messages
	Text       Format = "text"       // text
	Completion Format = "completion" // prompt, completion
	Preference Format = "preference" // prompt, chosen, rejected (message lists)
	KTO        Format = "kto"        // messages + label
)

// Formats lists the formats accepted by the dataset agent's format param
// (besides "auto").
var Formats = []Format{Alpaca, Messages, ShareGPT, Text, Completion, Preference, KTO}

// Canonical returns the format records of f are stored in.
func (f Format) Canonical() Format {
	if f == ShareGPT {
		return Messages
	}
	return f
}

// Message is one turn of a conversation. Role is one of system, user,
// assistant, tool (ShareGPT's human/gpt/observation/function_call are mapped).
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Record is one normalised row. Which fields are meaningful depends on
// Format; the others are empty.
type Record struct {
	Format Format `json:"-"`
	// Line is the 1-based line (or row, for Parquet) of the source where the
	// record starts; 0 when unknown.
	Line int `json:"-"`
	// Missing names required fields the source row lacked (kept so that the
	// validate agent can report them).
	Missing []string `json:"-"`

	Instruction, Input, Output string    // Alpaca
	System                     string    // Alpaca (optional system prompt)
	Messages                   []Message // Messages, KTO; the prompt of Preference
	Tools                      string    // Messages (optional tool schema, JSON text)
	Text                       string    // Text
	Prompt, Completion         string    // Completion
	Chosen, Rejected           []Message // Preference continuations
	Label                      *bool     // KTO
}

// Field is one named piece of text of a record, for scanners.
type Field struct {
	Name string // "instruction", "messages[2].content", "chosen[0].content", ...
	Text string
}

// Fields returns the record's text fields in a fixed order. It appends to
// dst to avoid allocations in loops.
func (r *Record) Fields(dst []Field) []Field {
	switch r.Format.Canonical() {
	case Alpaca:
		if r.System != "" {
			dst = append(dst, Field{"system", r.System})
		}
		dst = append(dst, Field{"instruction", r.Instruction}, Field{"input", r.Input}, Field{"output", r.Output})
	case Messages, KTO:
		dst = appendMessages(dst, "messages", r.Messages)
	case Text:
		dst = append(dst, Field{"text", r.Text})
	case Completion:
		dst = append(dst, Field{"prompt", r.Prompt}, Field{"completion", r.Completion})
	case Preference:
		dst = appendMessages(dst, "prompt", r.Messages)
		dst = appendMessages(dst, "chosen", r.Chosen)
		dst = appendMessages(dst, "rejected", r.Rejected)
	}
	return dst
}

func appendMessages(dst []Field, name string, ms []Message) []Field {
	for i := range ms {
		dst = append(dst, Field{name + "[" + strconv.Itoa(i) + "].content", ms[i].Content})
	}
	return dst
}

// Size returns the total length in bytes of the record's text.
func (r *Record) Size() int {
	n := 0
	for _, f := range r.Fields(nil) {
		n += len(f.Text)
	}
	return n
}

// MapText applies fn to every text field in place (used for cleaning and
// redaction).
func (r *Record) MapText(fn func(string) string) {
	mapMsgs := func(ms []Message) {
		for i := range ms {
			ms[i].Content = fn(ms[i].Content)
		}
	}
	r.Instruction, r.Input, r.Output, r.System = fn(r.Instruction), fn(r.Input), fn(r.Output), fn(r.System)
	r.Text, r.Prompt, r.Completion = fn(r.Text), fn(r.Prompt), fn(r.Completion)
	mapMsgs(r.Messages)
	mapMsgs(r.Chosen)
	mapMsgs(r.Rejected)
}

// Required returns the names of the fields format f requires.
func Required(f Format) []string {
	switch f.Canonical() {
	case Alpaca:
		return []string{"instruction", "output"}
	case Messages:
		return []string{"messages"}
	case Text:
		return []string{"text"}
	case Completion:
		return []string{"prompt", "completion"}
	case Preference:
		return []string{"chosen", "rejected"}
	case KTO:
		return []string{"messages", "label"}
	}
	return nil
}

// wire is the JSON layout of every canonical format; absent fields are
// omitted by MarshalJSON per format.
type wire struct {
	Instruction *string   `json:"instruction,omitempty"`
	Input       *string   `json:"input,omitempty"`
	Output      *string   `json:"output,omitempty"`
	System      string    `json:"system,omitempty"`
	Messages    []Message `json:"messages,omitempty"`
	Tools       string    `json:"tools,omitempty"`
	Text        *string   `json:"text,omitempty"`
	Prompt      any       `json:"prompt,omitempty"`
	Completion  *string   `json:"completion,omitempty"`
	Chosen      []Message `json:"chosen,omitempty"`
	Rejected    []Message `json:"rejected,omitempty"`
	Label       *bool     `json:"label,omitempty"`
	Line        int       `json:"_line,omitempty"`
	Missing     []string  `json:"_missing,omitempty"`
}

// MarshalJSON encodes the record in its format's canonical schema:
//
//	alpaca:     {"instruction", "input", "output", "system"?}
//	messages:   {"messages": [{"role", "content"}], "tools"?}
//	text:       {"text"}
//	completion: {"prompt", "completion"}
//	preference: {"prompt": [messages], "chosen": [messages], "rejected": [messages]}
//	kto:        {"messages": [messages], "label"}
//
// plus "_line" (source line) and "_missing" (required fields the source
// lacked) when set.
func (r *Record) MarshalJSON() ([]byte, error) {
	w := wire{Line: r.Line, Missing: r.Missing}
	switch r.Format.Canonical() {
	case Alpaca:
		w.Instruction, w.Input, w.Output, w.System = &r.Instruction, &r.Input, &r.Output, r.System
	case Messages:
		w.Messages, w.Tools = nonNil(r.Messages), r.Tools
	case Text:
		w.Text = &r.Text
	case Completion:
		w.Prompt, w.Completion = r.Prompt, &r.Completion
	case Preference:
		w.Prompt, w.Chosen, w.Rejected = nonNil(r.Messages), nonNil(r.Chosen), nonNil(r.Rejected)
	case KTO:
		w.Messages, w.Label = nonNil(r.Messages), r.Label
	default:
		return nil, fmt.Errorf("marshal record: unknown format %q", r.Format)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&w); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func nonNil(ms []Message) []Message {
	if ms == nil {
		return []Message{}
	}
	return ms
}

// Decode parses one canonical JSONL line of format f into r. A hand-written
// parser handles the canonical layout; anything else (unknown keys, odd
// values) goes through encoding/json, so the result is always what
// encoding/json gives.
func Decode(line []byte, f Format, r *Record) error {
	if fastDecode(line, f, r) {
		return nil
	}
	return decodeJSON(line, f, r)
}

func decodeJSON(line []byte, f Format, r *Record) error {
	var w struct {
		wire
		Prompt json.RawMessage `json:"prompt,omitempty"`
	}
	if err := json.Unmarshal(line, &w); err != nil {
		return err
	}
	*r = Record{Format: f.Canonical(), Line: w.Line, Missing: w.Missing, Messages: w.Messages,
		Tools: w.Tools, System: w.System, Chosen: w.Chosen, Rejected: w.Rejected, Label: w.Label}
	r.Instruction, r.Input, r.Output = deref(w.Instruction), deref(w.Input), deref(w.Output)
	r.Text, r.Completion = deref(w.Text), deref(w.Completion)
	if len(w.Prompt) > 0 {
		if w.Prompt[0] == '"' {
			if err := json.Unmarshal(w.Prompt, &r.Prompt); err != nil {
				return err
			}
		} else if err := json.Unmarshal(w.Prompt, &r.Messages); err != nil {
			return err
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Conversation returns the record as a list of messages: Alpaca becomes
// [system?, user (instruction + "\n\n" + input), assistant (output)],
// Completion [user, assistant], Text [assistant], Preference its prompt
// followed by the chosen continuation.
func (r *Record) Conversation() []Message {
	switch r.Format.Canonical() {
	case Alpaca:
		var ms []Message
		if r.System != "" {
			ms = append(ms, Message{"system", r.System})
		}
		user := r.Instruction
		if strings.TrimSpace(r.Input) != "" {
			user += "\n\n" + r.Input
		}
		return append(ms, Message{"user", user}, Message{"assistant", r.Output})
	case Completion:
		return []Message{{"user", r.Prompt}, {"assistant", r.Completion}}
	case Text:
		return []Message{{"assistant", r.Text}}
	case Preference:
		return append(append([]Message(nil), r.Messages...), r.Chosen...)
	}
	return r.Messages
}
