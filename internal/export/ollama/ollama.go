// Package ollama writes Ollama Modelfiles for exported GGUF models: FROM the
// GGUF file, optionally an ADAPTER, a TEMPLATE in Ollama's Go-template
// syntax equivalent to the chat template the model was trained with, and
// PARAMETER stop lines for its end-of-turn markers.
//
// Chat templates are recognised by family: ChatML (<|im_start|>), Llama-3
// (<|start_header_id|>), Llama-2 ([INST]) and Alpaca (### Instruction:,
// used for models without a chat template).
package ollama

import (
	"fmt"
	"github.com/whetstone/whetstone/internal/data/template"
	"regexp"
	"strconv"
	"strings"
	gotemplate "text/template"
)

// Family is a chat template family.
type Family string

// The families.
const (
	ChatML Family = "chatml"
	Llama3 Family = "llama3"
	Llama2 Family = "llama2"
	Alpaca Family = "alpaca"
	// Raw passes the prompt through (base models used for completion).
	Raw Family = "raw"
)

// Families lists the known families.
var Families = []Family{ChatML, Llama3, Llama2, Alpaca, Raw}

// ParseFamily parses a family name.
func ParseFamily(s string) (Family, error) {
	for _, f := range Families {
		if string(f) == strings.ToLower(s) {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown chat template family %q (want one of %v)", s, Families)
}

// Detect names the family of a Hugging Face (Jinja) chat template.
func Detect(jinja string) (Family, bool) {
	switch {
	case strings.Contains(jinja, "<|im_start|>"):
		return ChatML, true
	case strings.Contains(jinja, "<|start_header_id|>"):
		return Llama3, true
	case strings.Contains(jinja, "[INST]"):
		return Llama2, true
	case strings.Contains(jinja, "### Instruction:"):
		return Alpaca, true
	}
	return "", false
}

// Template returns the Ollama TEMPLATE for the family. Ollama renders it
// with .Messages (each .Role, .Content) and .System.
func (f Family) Template() string {
	switch f {
	case ChatML:
		return "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
	case Llama3:
		return "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>{{ end }}" +
			"<|start_header_id|>assistant<|end_header_id|>\n\n"
	case Llama2:
		return "{{- range $i, $m := .Messages }}{{ if eq $m.Role \"user\" }}[INST] " +
			"{{ if and (eq $i 1) $.System }}<<SYS>>\n{{ $.System }}\n<</SYS>>\n\n{{ end }}{{ $m.Content }} [/INST]" +
			"{{ else if eq $m.Role \"assistant\" }} {{ $m.Content }} </s><s>{{ end }}{{ end }}"
	case Alpaca:
		return "{{- range .Messages }}{{ if eq .Role \"system\" }}{{ .Content }}\n\n" +
			"{{ else if eq .Role \"user\" }}### Instruction:\n{{ .Content }}\n\n" +
			"{{ else if eq .Role \"assistant\" }}### Response:\n{{ .Content }}</s>{{ end }}{{ end }}### Response:\n"
	}
	return "{{ .Prompt }}"
}

// Jinja returns a Hugging Face chat template equivalent to Template, for
// models whose tokenizer has none (stored in GGUF and tokenizer_config.json).
// eos is the end-of-sequence token text.
func (f Family) Jinja(eos string) string {
	switch f {
	case ChatML:
		return "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
			"{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
	case Alpaca:
		// Without a system message the preamble preprocess's alpaca template
		// writes (as the Modelfile's SYSTEM does for Ollama).
		return "{% if messages and messages[0]['role'] != 'system' %}{{ '" + template.AlpacaPreamble + "\\n\\n' }}{% endif %}" +
			"{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}" +
			"{% elif message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}" +
			"{% elif message['role'] == 'assistant' %}{{ '### Response:\\n' + message['content'] + '" + eos + "' }}{% endif %}" +
			"{% endfor %}{% if add_generation_prompt %}{{ '### Response:\\n' }}{% endif %}"
	}
	return ""
}

// Stops returns the stop strings of the family, plus eos when not empty.
func (f Family) Stops(eos string) []string {
	var s []string
	switch f {
	case ChatML:
		s = []string{"<|im_start|>", "<|im_end|>"}
	case Llama3:
		s = []string{"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}
	case Llama2:
		s = []string{"[INST]", "[/INST]", "<<SYS>>", "<</SYS>>"}
	case Alpaca:
		s = []string{"### Instruction:", "### Response:"}
	}
	if eos != "" && !contains(s, eos) {
		s = append(s, eos)
	}
	return s
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// defaultSystemRe finds a ChatML template's built-in system prompt, the one
// it renders when the conversation has none (Qwen2.5, SmolLM2-Instruct):
// '<|im_start|>system\n...<|im_end|>' as a Jinja string literal.
var defaultSystemRe = regexp.MustCompile(`'<\|im_start\|>system\\n([^'{}<]+)<\|im_end\|>\\n'`)

// DefaultSystem returns the system prompt a chat template inserts when the
// conversation has none, or "". Ollama gets it as SYSTEM, which it sends as
// the first message when the user gives none.
func DefaultSystem(jinja string) string {
	if m := defaultSystemRe.FindStringSubmatch(jinja); m != nil {
		return m[1]
	}
	return ""
}

// Modelfile is an Ollama Modelfile.
type Modelfile struct {
	From     string // path of the GGUF model, relative to the Modelfile
	Adapter  string // optional GGUF LoRA adapter
	Template string
	System   string
	Stops    []string
	// Params are further PARAMETER lines (name → value), e.g. num_ctx.
	Params map[string]string
}

// New returns the Modelfile for a GGUF file and chat family.
func New(from string, f Family, eos string) *Modelfile {
	return &Modelfile{From: from, Template: f.Template(), Stops: f.Stops(eos)}
}

// String renders the Modelfile.
func (m *Modelfile) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "FROM %s\n", quoteIfNeeded(m.From))
	if m.Adapter != "" {
		fmt.Fprintf(&b, "ADAPTER %s\n", quoteIfNeeded(m.Adapter))
	}
	if m.Template != "" {
		fmt.Fprintf(&b, "TEMPLATE \"\"\"%s\"\"\"\n", m.Template)
	}
	if m.System != "" {
		fmt.Fprintf(&b, "SYSTEM \"\"\"%s\"\"\"\n", m.System)
	}
	for _, s := range m.Stops {
		fmt.Fprintf(&b, "PARAMETER stop %s\n", strconv.Quote(s))
	}
	for _, k := range sortedKeys(m.Params) {
		fmt.Fprintf(&b, "PARAMETER %s %s\n", k, m.Params[k])
	}
	return b.String()
}

func quoteIfNeeded(s string) string {
	if strings.ContainsAny(s, " \t\"") {
		return strconv.Quote(s)
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return ks
}

// Message is one chat turn as Ollama passes it to a TEMPLATE.
type Message struct{ Role, Content string }

// Render renders a chat with the Modelfile's TEMPLATE the way Ollama does:
// its SYSTEM becomes the first message when the chat has no system message,
// .Messages holds the turns (.Role, .Content) and .System the system text.
func (m *Modelfile) Render(msgs []Message) (string, error) {
	data := struct {
		Messages []Message
		System   string
		Prompt   string
	}{}
	hasSystem := false
	for _, x := range msgs {
		if x.Role == "system" {
			hasSystem = true
			data.System = x.Content
		}
	}
	if !hasSystem && m.System != "" {
		data.System = m.System
		data.Messages = append(data.Messages, Message{Role: "system", Content: m.System})
	}
	data.Messages = append(data.Messages, msgs...)
	tp, err := gotemplate.New("TEMPLATE").Parse(m.Template)
	if err != nil {
		return "", fmt.Errorf("modelfile TEMPLATE: %w", err)
	}
	var b strings.Builder
	if err := tp.Execute(&b, data); err != nil {
		return "", fmt.Errorf("modelfile TEMPLATE: %w", err)
	}
	return b.String(), nil
}

// Parse reads a Modelfile written by String: FROM, ADAPTER, TEMPLATE and
// SYSTEM (in """ quotes or bare), PARAMETER stop (Go-quoted or bare) and
// other PARAMETER lines. Returns an error naming the line of anything else.
func Parse(text string) (*Modelfile, error) {
	m := &Modelfile{}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cmd, arg, _ := strings.Cut(line, " ")
		arg = strings.TrimSpace(arg)
		switch strings.ToUpper(cmd) {
		case "TEMPLATE", "SYSTEM":
			// """...""" may span lines; the raw text between the quotes is the value
			if rest, ok := strings.CutPrefix(lines[i][strings.Index(lines[i], cmd)+len(cmd):], " \"\"\""); ok {
				var b strings.Builder
				start := i
				for {
					if before, _, done := strings.Cut(rest, "\"\"\""); done {
						b.WriteString(before)
						break
					}
					b.WriteString(rest)
					i++
					if i >= len(lines) {
						return nil, fmt.Errorf("modelfile line %d: %s: unterminated \"\"\"", start+1, cmd)
					}
					b.WriteString("\n")
					rest = lines[i]
				}
				arg = b.String()
			} else if s, err := strconv.Unquote(arg); err == nil {
				arg = s
			}
			if strings.ToUpper(cmd) == "TEMPLATE" {
				m.Template = arg
			} else {
				m.System = arg
			}
		case "FROM":
			m.From = unquote(arg)
		case "ADAPTER":
			m.Adapter = unquote(arg)
		case "PARAMETER":
			name, val, _ := strings.Cut(arg, " ")
			val = strings.TrimSpace(val)
			if name == "stop" {
				m.Stops = append(m.Stops, unquote(val))
				continue
			}
			if m.Params == nil {
				m.Params = map[string]string{}
			}
			m.Params[name] = val
		default:
			return nil, fmt.Errorf("modelfile line %d: unknown instruction %q", i+1, cmd)
		}
	}
	return m, nil
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}
