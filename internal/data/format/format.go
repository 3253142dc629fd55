// Package format detects the record format of dataset rows (Alpaca, chat
// messages, ShareGPT, raw text, prompt/completion, preference, KTO) and
// normalises rows into record.Record values.
package format

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/whetstone/whetstone/internal/data/record"
)

// Mapping maps canonical field names (instruction, input, output, system,
// messages, conversations, text, prompt, completion, chosen, rejected,
// label, tools) to the source's column names. Mapped columns override
// detection.
type Mapping map[string]string

// Apply renames row's mapped columns to their canonical names, in place.
func (m Mapping) Apply(row map[string]any) {
	if len(m) == 0 {
		return
	}
	moved := make(map[string]any, len(m))
	for canon, src := range m {
		if v, ok := row[src]; ok {
			moved[canon] = v
			delete(row, src)
		}
	}
	for k, v := range moved {
		row[k] = v
	}
}

// Format returns the format the mapping's canonical names imply
// (instruction and output: alpaca; messages; conversations: sharegpt;
// text; prompt and completion; chosen and rejected: preference; with
// label: kto), or "" when they imply none.
func (m Mapping) Format() record.Format {
	if len(m) == 0 {
		return ""
	}
	row := map[string]any{}
	for k := range m {
		switch k {
		case "messages", "conversations":
			row[k] = []any{}
		case "label":
			row[k] = true
		default:
			row[k] = ""
		}
	}
	if _, ok := row["text"]; !ok && len(row) == 1 {
		// A single mapped column other than text implies nothing.
		for k := range row {
			if k != "messages" && k != "conversations" {
				return ""
			}
		}
	}
	return DetectRow(row)
}

// FieldError is a row whose field cannot be normalised.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Msg) }

// DetectRow returns the most specific format row matches, or "" if none.
func DetectRow(row map[string]any) record.Format {
	has := func(k string) bool { _, ok := row[k]; return ok }
	isList := func(k string) bool { _, ok := asList(row[k]); return ok }
	switch {
	case has("chosen_messages") && has("rejected_messages"):
		return record.Preference
	case has("chosen") && has("rejected"):
		return record.Preference
	case has("label") && (has("messages") || has("conversations") || has("completion") || has("output")):
		if _, ok := asBool(row["label"]); ok {
			return record.KTO
		}
	}
	switch {
	case isList("conversations"):
		return record.ShareGPT
	case isList("messages"):
		if ms, _ := asList(row["messages"]); len(ms) > 0 {
			if m, ok := ms[0].(map[string]any); ok && m["from"] != nil && m["role"] == nil {
				return record.ShareGPT
			}
		}
		return record.Messages
	case has("instruction") && (has("output") || has("response")):
		return record.Alpaca
	case has("prompt") && (has("completion") || has("response")):
		return record.Completion
	case has("input") && has("output"):
		return record.Alpaca
	case has("text"):
		return record.Text
	case has("content"):
		return record.Text
	}
	// One string column: raw text.
	var str []string
	for k, v := range row {
		if _, ok := v.(string); ok && !strings.HasPrefix(k, "_") {
			str = append(str, k)
		}
	}
	if len(str) == 1 {
		return record.Text
	}
	return ""
}

// Detect returns the format most of the sample rows match. It returns an
// error listing the columns when none matches.
func Detect(sample []map[string]any) (record.Format, error) {
	votes := map[record.Format]int{}
	for _, r := range sample {
		if f := DetectRow(r); f != "" {
			votes[f]++
		}
	}
	best, n := record.Format(""), 0
	for _, f := range record.Formats {
		if votes[f] > n {
			best, n = f, votes[f]
		}
	}
	if best == "" {
		cols := map[string]bool{}
		for _, r := range sample {
			for k := range r {
				cols[k] = true
			}
		}
		names := make([]string, 0, len(cols))
		for k := range cols {
			names = append(names, k)
		}
		sort.Strings(names)
		if len(sample) == 0 {
			return "", fmt.Errorf("detect format: no rows")
		}
		return "", fmt.Errorf("detect format: columns %v match no known format (alpaca: instruction/input/output, messages, conversations, text, prompt/completion, prompt/chosen/rejected, label); set format or columns", names)
	}
	return best, nil
}

// Normalize converts row into a record of format f. Required fields the row
// lacks are listed in Record.Missing; a field of the wrong shape is a
// *FieldError.
func Normalize(f record.Format, row map[string]any, line int) (record.Record, error) {
	r := record.Record{Format: f.Canonical(), Line: line}
	str := func(keys ...string) (string, bool, error) {
		for _, k := range keys {
			v, ok := row[k]
			if !ok {
				continue
			}
			s, err := asString(k, v)
			return s, true, err
		}
		return "", false, nil
	}
	need := func(name string, present bool) {
		if !present {
			r.Missing = append(r.Missing, name)
		}
	}
	var err error
	var ok bool
	switch f {
	case record.Alpaca:
		if r.Instruction, ok, err = str("instruction"); err != nil {
			return r, err
		}
		need("instruction", ok)
		if r.Input, _, err = str("input"); err != nil {
			return r, err
		}
		if r.Output, ok, err = str("output", "response"); err != nil {
			return r, err
		}
		need("output", ok)
		if r.System, _, err = str("system"); err != nil {
			return r, err
		}
	case record.Messages, record.ShareGPT:
		key := "messages"
		if _, has := row[key]; !has {
			key = "conversations"
		}
		v, has := row[key]
		need("messages", has)
		if has {
			if r.Messages, err = messages(key, v); err != nil {
				return r, err
			}
		}
		if sys, ok, err := str("system"); err != nil {
			return r, err
		} else if ok && sys != "" {
			r.Messages = append([]record.Message{{Role: "system", Content: sys}}, r.Messages...)
		}
		if t, ok := row["tools"]; ok && t != nil {
			if s, isStr := t.(string); isStr {
				r.Tools = s
			} else {
				b, _ := json.Marshal(t)
				r.Tools = string(b)
			}
		}
	case record.Text:
		if r.Text, ok, err = str("text", "content"); err != nil {
			return r, err
		}
		if !ok {
			for k, v := range row {
				if s, isStr := v.(string); isStr && !strings.HasPrefix(k, "_") {
					r.Text, ok = s, true
					break
				}
			}
		}
		need("text", ok)
	case record.Completion:
		if r.Prompt, ok, err = str("prompt"); err != nil {
			return r, err
		}
		need("prompt", ok)
		if r.Completion, ok, err = str("completion", "response"); err != nil {
			return r, err
		}
		need("completion", ok)
	case record.Preference:
		return preference(row, r)
	case record.KTO:
		if v, has := row["messages"]; has {
			if r.Messages, err = messages("messages", v); err != nil {
				return r, err
			}
		} else if v, has := row["conversations"]; has {
			if r.Messages, err = messages("conversations", v); err != nil {
				return r, err
			}
		} else {
			p, pok, err := str("prompt", "instruction")
			if err != nil {
				return r, err
			}
			c, cok, err := str("completion", "output", "response")
			if err != nil {
				return r, err
			}
			if pok || cok {
				r.Messages = []record.Message{{Role: "user", Content: p}, {Role: "assistant", Content: c}}
			}
			need("messages", pok && cok)
		}
		if v, has := row["label"]; has {
			b, ok := asBool(v)
			if !ok {
				return r, &FieldError{"label", fmt.Sprintf("want a boolean, got %v", v)}
			}
			r.Label = &b
		} else {
			r.Missing = append(r.Missing, "label")
		}
	default:
		return r, fmt.Errorf("normalize: unknown format %q", f)
	}
	return r, nil
}

func preference(row map[string]any, r record.Record) (record.Record, error) {
	get := func(keys ...string) (string, any) {
		for _, k := range keys {
			if v, ok := row[k]; ok {
				return k, v
			}
		}
		return "", nil
	}
	turns := func(key string, v any, role string) ([]record.Message, error) {
		switch x := v.(type) {
		case string:
			if t := strings.TrimSpace(x); strings.HasPrefix(t, "[") || strings.HasPrefix(t, "{") {
				var parsed any
				if json.Unmarshal([]byte(t), &parsed) == nil {
					return turnsOf(key, parsed, role)
				}
			}
			return []record.Message{{Role: role, Content: x}}, nil
		case nil:
			return nil, nil
		}
		return turnsOf(key, v, role)
	}
	var prompt []record.Message
	var err error
	if k, v := get("conversations", "messages", "prompt"); k != "" {
		if prompt, err = turns(k, v, "user"); err != nil {
			return r, err
		}
	} else if k, v := get("instruction"); k != "" {
		s, err := asString(k, v)
		if err != nil {
			return r, err
		}
		if in, ok := row["input"].(string); ok && strings.TrimSpace(in) != "" {
			s += "\n\n" + in
		}
		prompt = []record.Message{{Role: "user", Content: s}}
	}
	if sys, ok := row["system"].(string); ok && sys != "" {
		prompt = append([]record.Message{{Role: "system", Content: sys}}, prompt...)
	}
	ck, cv := get("chosen", "chosen_messages")
	rk, rv := get("rejected", "rejected_messages")
	if ck == "" {
		r.Missing = append(r.Missing, "chosen")
	} else if r.Chosen, err = turns(ck, cv, "assistant"); err != nil {
		return r, err
	}
	if rk == "" {
		r.Missing = append(r.Missing, "rejected")
	} else if r.Rejected, err = turns(rk, rv, "assistant"); err != nil {
		return r, err
	}
	// Full conversations in chosen and rejected: split off the common
	// prefix as the prompt.
	if len(prompt) == 0 && len(r.Chosen) > 1 && len(r.Rejected) > 1 {
		n := 0
		for n < len(r.Chosen)-1 && n < len(r.Rejected)-1 && r.Chosen[n] == r.Rejected[n] {
			n++
		}
		prompt = append([]record.Message(nil), r.Chosen[:n]...)
		r.Chosen, r.Rejected = r.Chosen[n:], r.Rejected[n:]
	}
	r.Messages = prompt
	return r, nil
}

// turnsOf reads a message object or a list of them.
func turnsOf(key string, v any, role string) ([]record.Message, error) {
	if m, ok := v.(map[string]any); ok {
		msg, err := message(key, m)
		if err != nil {
			return nil, err
		}
		if msg.Role == "" {
			msg.Role = role
		}
		return []record.Message{msg}, nil
	}
	return messages(key, v)
}

// roles maps ShareGPT and other spellings to canonical roles.
var roles = map[string]string{
	"system": "system", "user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant",
	"bot": "assistant", "model": "assistant", "chatgpt": "assistant", "function_call": "assistant",
	"observation": "tool", "tool": "tool", "function": "tool", "ipython": "tool",
}

// CanonicalRole returns the canonical role for a role name, and whether it
// is known.
func CanonicalRole(role string) (string, bool) {
	r, ok := roles[strings.ToLower(strings.TrimSpace(role))]
	if !ok {
		return role, false
	}
	return r, true
}

func messages(key string, v any) ([]record.Message, error) {
	if s, ok := v.(string); ok { // JSON inside a CSV cell
		var parsed any
		if err := json.Unmarshal([]byte(s), &parsed); err != nil {
			return nil, &FieldError{key, "want a list of messages, got a string that is not JSON"}
		}
		v = parsed
	}
	list, ok := asList(v)
	if !ok {
		return nil, &FieldError{key, fmt.Sprintf("want a list of messages, got %s", typeName(v))}
	}
	out := make([]record.Message, 0, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, &FieldError{key + "[" + strconv.Itoa(i) + "]", fmt.Sprintf("want a message object, got %s", typeName(e))}
		}
		msg, err := message(key+"["+strconv.Itoa(i)+"]", m)
		if err != nil {
			return nil, err
		}
		out = append(out, msg)
	}
	return out, nil
}

// message reads {role, content} or {from, value}; content may be a list of
// parts ({type: text, text|value}), whose text parts are joined.
func message(key string, m map[string]any) (record.Message, error) {
	role, _ := m["role"].(string)
	if role == "" {
		role, _ = m["from"].(string)
	}
	if role != "" {
		if r, ok := CanonicalRole(role); ok {
			role = r
		}
	}
	c, ok := m["content"]
	if !ok {
		c, ok = m["value"]
	}
	if !ok {
		return record.Message{Role: role}, nil
	}
	content, err := contentText(key+".content", c)
	return record.Message{Role: role, Content: content}, err
}

func contentText(key string, c any) (string, error) {
	switch x := c.(type) {
	case string:
		return x, nil
	case nil:
		return "", nil
	case []any:
		var b strings.Builder
		for _, p := range x {
			switch part := p.(type) {
			case string:
				b.WriteString(part)
			case map[string]any:
				if t, _ := part["type"].(string); t != "" && t != "text" {
					continue // images, audio: not text
				}
				for _, k := range []string{"text", "value", "content"} {
					if s, ok := part[k].(string); ok {
						b.WriteString(s)
						break
					}
				}
			}
		}
		return b.String(), nil
	}
	return "", &FieldError{key, fmt.Sprintf("want text, got %s", typeName(c))}
}

func asString(key string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case nil:
		return "", nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case bool:
		return strconv.FormatBool(x), nil
	case []byte:
		return string(x), nil
	}
	return "", &FieldError{key, fmt.Sprintf("want text, got %s", typeName(v))}
}

func asList(v any) ([]any, bool) {
	l, ok := v.([]any)
	return l, ok
}

func asBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		return b, err == nil
	case float64:
		return x != 0, x == 0 || x == 1
	case int64:
		return x != 0, x == 0 || x == 1
	}
	return false, false
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64, int64, int32:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
