package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/whetstone/whetstone/internal/tokenizer/internal/jinja"
)

// ChatOptions controls ApplyChatTemplate and EncodeChat.
type ChatOptions struct {
	// AddGenerationPrompt appends the header of a new assistant turn.
	AddGenerationPrompt bool
	// Tools are the tool (function) definitions passed to the template as `tools`.
	Tools []map[string]any
	// Template selects a named template when tokenizer_config.json has several; "" means "default".
	Template string
	// Extra holds more template variables (e.g. enable_thinking, documents).
	Extra map[string]any
}

// KeyOrder is a map key holding a []string with the order of the other keys. Maps built by
// ParseConversation carry it so tojson prints keys in their JSON order, as Python does; maps without it
// are rendered with sorted keys.
const KeyOrder = "\x00keys"

// ErrNoChatTemplate is returned when the model has no (such) chat template.
var ErrNoChatTemplate = errors.New("tokenizer: no chat template")

// HasChatTemplate reports whether tokenizer_config.json carries a chat template.
func (t *Tokenizer) HasChatTemplate() bool { return len(t.cfg.Templates) > 0 }

// TemplateNames returns the names of the chat templates ("default" for the unnamed one).
func (t *Tokenizer) TemplateNames() []string {
	var names []string
	for n := range t.cfg.Templates {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var templateCache sync.Map // source -> *jinja.Template

func compileTemplate(src string) (*jinja.Template, error) {
	if v, ok := templateCache.Load(src); ok {
		return v.(*jinja.Template), nil
	}
	tmpl, err := jinja.Compile(src)
	if err != nil {
		return nil, err
	}
	templateCache.Store(src, tmpl)
	return tmpl, nil
}

// ApplyChatTemplate renders messages with the model's chat template, like transformers'
// apply_chat_template(tokenize=False): Jinja2 with trim_blocks and lstrip_blocks, raise_exception,
// strftime_now and tojson(ensure_ascii=False); the special tokens (bos_token, eos_token, ...) are
// variables. Returns ErrNoChatTemplate if there is no template of that name.
func (t *Tokenizer) ApplyChatTemplate(messages []map[string]any, opts ChatOptions) (string, error) {
	out, _, err := t.renderChat(messages, opts)
	return out, err
}

// renderChat renders and also returns the byte ranges of {% generation %} block output.
func (t *Tokenizer) renderChat(messages []map[string]any, opts ChatOptions) (string, [][2]int, error) {
	name := cmpOr(opts.Template, "default")
	src, ok := t.cfg.Templates[name]
	if !ok && opts.Template == "" && len(t.cfg.Templates) == 1 {
		for _, s := range t.cfg.Templates {
			src, ok = s, true
		}
	}
	if !ok {
		if len(t.cfg.Templates) == 0 {
			return "", nil, ErrNoChatTemplate
		}
		return "", nil, fmt.Errorf("%w named %q (have %s)", ErrNoChatTemplate, name, strings.Join(t.TemplateNames(), ", "))
	}
	tmpl, err := compileTemplate(src)
	if err != nil {
		return "", nil, fmt.Errorf("chat template %q: %w", name, err)
	}
	data := map[string]jinja.Value{}
	for _, kv := range []struct {
		k string
		v *string
	}{{"bos_token", t.cfg.BOSToken}, {"eos_token", t.cfg.EOSToken}, {"unk_token", t.cfg.UnkToken}, {"pad_token", t.cfg.PadToken}} {
		if kv.v != nil {
			data[kv.k] = jinja.NewString(*kv.v)
		}
	}
	for k, v := range opts.Extra {
		data[k] = toValue(v)
	}
	msgs := make([]jinja.Value, len(messages))
	for i, m := range messages {
		msgs[i] = toValue(m)
	}
	data["messages"] = jinja.NewList(msgs)
	if opts.Tools != nil {
		tools := make([]jinja.Value, len(opts.Tools))
		for i, m := range opts.Tools {
			tools[i] = toValue(m)
		}
		data["tools"] = jinja.NewList(tools)
	} else if _, ok := data["tools"]; !ok {
		data["tools"] = jinja.None()
	}
	if _, ok := data["documents"]; !ok {
		data["documents"] = jinja.None() // transformers always passes documents (None by default)
	}
	data["add_generation_prompt"] = jinja.NewBool(opts.AddGenerationPrompt)
	data["__filter_tojson"] = jinja.NewCallable("tojson", tojson)
	data["strftime_now"] = jinja.NewCallable("strftime_now", strftimeNow)
	data["raise_exception"] = jinja.NewCallable("raise_exception", raiseException)
	out, spans, err := tmpl.RenderSpans(data)
	if err != nil {
		return "", nil, fmt.Errorf("chat template %q: %w", name, err)
	}
	return out, spans, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// toValue converts Go values (as decoded from JSON, or built by callers) to template values.
func toValue(v any) jinja.Value {
	switch x := v.(type) {
	case nil:
		return jinja.None()
	case bool:
		return jinja.NewBool(x)
	case int:
		return jinja.NewInt(int64(x))
	case int64:
		return jinja.NewInt(x)
	case int32:
		return jinja.NewInt(int64(x))
	case float32:
		return jinja.NewFloat(float64(x))
	case float64:
		return jinja.NewFloat(x)
	case json.Number:
		return jinja.FromGoValue(x)
	case string:
		return jinja.NewString(x)
	case []string:
		items := make([]jinja.Value, len(x))
		for i, s := range x {
			items[i] = jinja.NewString(s)
		}
		return jinja.NewList(items)
	case []any:
		items := make([]jinja.Value, len(x))
		for i, e := range x {
			items[i] = toValue(e)
		}
		return jinja.NewList(items)
	case []map[string]any:
		items := make([]jinja.Value, len(x))
		for i, e := range x {
			items[i] = toValue(e)
		}
		return jinja.NewList(items)
	case map[string]any:
		d := jinja.NewDict()
		dict := d.AsDict()
		keys, _ := x[KeyOrder].([]string)
		if keys == nil {
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
		}
		for _, k := range keys {
			if k == KeyOrder {
				continue
			}
			if val, ok := x[k]; ok {
				dict.Set(k, toValue(val))
			}
		}
		return d
	case json.RawMessage:
		o, err := decodeOrdered(x)
		if err != nil {
			return jinja.Undefined()
		}
		return toValue(o)
	case jinja.Value:
		return x
	}
	return jinja.FromGoValue(v)
}

// decodeOrdered decodes JSON keeping numbers as json.Number and recording object key order under
// KeyOrder.
func decodeOrdered(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("trailing data after JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch d := tok.(type) {
	case json.Delim:
		switch d {
		case '{':
			m := map[string]any{}
			var keys []string
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("object key is %T", kt)
				}
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				if _, dup := m[k]; !dup {
					keys = append(keys, k)
				}
				m[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			m[KeyOrder] = keys
			return m, nil
		case '[':
			list := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return list, nil
		}
		return nil, fmt.Errorf("unexpected %v", d)
	}
	return tok, nil
}

// Conversation is a chat read by ParseConversation.
type Conversation struct {
	Messages []map[string]any
	Tools    []map[string]any
	// Extra holds other top-level fields of an object input (e.g. enable_thinking).
	Extra map[string]any
}

// ParseConversation reads a conversation: either a JSON array of messages or an object with
// "messages" and optional "tools" (other fields become template variables). Object key order is kept.
func ParseConversation(b []byte) (*Conversation, error) {
	v, err := decodeOrdered(b)
	if err != nil {
		return nil, fmt.Errorf("conversation: %w", err)
	}
	c := &Conversation{}
	toMaps := func(field string, v any) ([]map[string]any, error) {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("conversation: %s: want an array", field)
		}
		out := make([]map[string]any, len(list))
		for i, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("conversation: %s[%d]: want an object", field, i)
			}
			out[i] = m
		}
		return out, nil
	}
	switch x := v.(type) {
	case []any:
		c.Messages, err = toMaps("messages", x)
	case map[string]any:
		msgs, ok := x["messages"]
		if !ok {
			return nil, errors.New("conversation: no \"messages\" field")
		}
		if c.Messages, err = toMaps("messages", msgs); err != nil {
			return nil, err
		}
		if tools, ok := x["tools"]; ok && tools != nil {
			if c.Tools, err = toMaps("tools", tools); err != nil {
				return nil, err
			}
		}
		for k, val := range x {
			if k != "messages" && k != "tools" && k != KeyOrder {
				if c.Extra == nil {
					c.Extra = map[string]any{}
				}
				c.Extra[k] = val
			}
		}
	default:
		return nil, errors.New("conversation: want an array of messages or an object with \"messages\"")
	}
	if err != nil {
		return nil, err
	}
	for i, m := range c.Messages {
		if _, ok := m["role"].(string); !ok {
			return nil, fmt.Errorf("conversation: messages[%d]: missing string \"role\"", i)
		}
	}
	return c, nil
}

// tojson is transformers' tojson filter: json.dumps(x, ensure_ascii=False, indent=indent,
// separators=separators, sort_keys=sort_keys), keys in insertion order.
func tojson(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.Undefined(), errors.New("tojson: missing value")
	}
	indent := -1
	if v, ok := kwargs["indent"]; ok && v.IsInt() {
		indent = int(v.AsInt())
	}
	if len(args) > 1 && args[1].IsInt() {
		indent = int(args[1].AsInt())
	}
	itemSep, keySep := ", ", ": "
	if indent >= 0 {
		itemSep = ","
	}
	if v, ok := kwargs["separators"]; ok && v.IsList() && v.AsList().Len() == 2 {
		itemSep, keySep = v.AsList().Get(0).String(), v.AsList().Get(1).String()
	}
	sortKeys := false
	if v, ok := kwargs["sort_keys"]; ok {
		sortKeys = v.IsTruthy()
	}
	var sb strings.Builder
	if err := writeJSON(&sb, args[0], indent, 0, itemSep, keySep, sortKeys); err != nil {
		return jinja.Undefined(), err
	}
	return jinja.NewString(sb.String()), nil
}

func writeJSON(sb *strings.Builder, v jinja.Value, indent, depth int, itemSep, keySep string, sortKeys bool) error {
	newline := func(d int) {
		if indent >= 0 {
			sb.WriteByte('\n')
			sb.WriteString(strings.Repeat(" ", indent*d))
		}
	}
	switch {
	case v.IsNone() || v.IsUndefined():
		sb.WriteString("null")
	case v.IsBool():
		if v.AsBool() {
			sb.WriteString("true")
		} else {
			sb.WriteString("false")
		}
	case v.IsInt():
		sb.WriteString(strconv.FormatInt(v.AsInt(), 10))
	case v.IsFloat():
		sb.WriteString(pyFloat(v.AsFloat()))
	case v.IsString():
		writeJSONString(sb, v.AsString())
	case v.IsList():
		items := v.AsList().Items
		if len(items) == 0 {
			sb.WriteString("[]")
			return nil
		}
		sb.WriteByte('[')
		for i, e := range items {
			if i > 0 {
				sb.WriteString(itemSep)
			}
			newline(depth + 1)
			if err := writeJSON(sb, e, indent, depth+1, itemSep, keySep, sortKeys); err != nil {
				return err
			}
		}
		newline(depth)
		sb.WriteByte(']')
	case v.IsDict():
		d := v.AsDict()
		keys := d.OrderedKeys()
		if len(keys) == 0 {
			sb.WriteString("{}")
			return nil
		}
		if sortKeys {
			keys = slices.Clone(keys)
			sort.Strings(keys)
		}
		sb.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				sb.WriteString(itemSep)
			}
			newline(depth + 1)
			writeJSONString(sb, k)
			sb.WriteString(keySep)
			val, _ := d.Get(k)
			if err := writeJSON(sb, val, indent, depth+1, itemSep, keySep, sortKeys); err != nil {
				return err
			}
		}
		newline(depth)
		sb.WriteByte('}')
	default:
		return fmt.Errorf("tojson: cannot serialize %s", v.String())
	}
	return nil
}

// writeJSONString escapes like Python's json.dumps with ensure_ascii=False.
func writeJSONString(sb *strings.Builder, s string) {
	sb.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			sb.WriteString(`\"`)
		case '\\':
			sb.WriteString(`\\`)
		case '\n':
			sb.WriteString(`\n`)
		case '\r':
			sb.WriteString(`\r`)
		case '\t':
			sb.WriteString(`\t`)
		case '\b':
			sb.WriteString(`\b`)
		case '\f':
			sb.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(sb, `\u%04x`, r)
			} else {
				sb.WriteRune(r)
			}
		}
	}
	sb.WriteByte('"')
}

// pyFloat formats like Python's float repr.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if strings.ContainsAny(s, "e") {
		// Python: 1e-05, 1e+16
		mant, exp, _ := strings.Cut(s, "e")
		sign := exp[0]
		exp = strings.TrimLeft(exp[1:], "0")
		if len(exp) < 2 {
			exp = strings.Repeat("0", 2-len(exp)) + exp
		}
		if a := math.Abs(f); a >= 1e-4 && a < 1e16 {
			s = strconv.FormatFloat(f, 'f', -1, 64)
		} else {
			s = mant + "e" + string(sign) + exp
		}
	}
	if !strings.ContainsAny(s, ".eIN") {
		s += ".0"
	}
	return s
}

// nowFunc is the clock of strftime_now (tests fix it).
var nowFunc = time.Now

// TemplateError is an error raised by a template with raise_exception.
type TemplateError struct{ Message string }

func (e *TemplateError) Error() string { return "template raised: " + e.Message }

func raiseException(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	msg := ""
	if len(args) > 0 {
		if args[0].IsString() {
			msg = args[0].AsString()
		} else {
			msg = args[0].String()
		}
	}
	return jinja.Undefined(), &TemplateError{Message: msg}
}

func strftimeNow(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 || !args[0].IsString() {
		return jinja.Undefined(), errors.New("strftime_now: want a format string")
	}
	return jinja.NewString(strftime(nowFunc(), args[0].AsString())), nil
}

// strftime formats t like Python's time.strftime in the C locale.
func strftime(t time.Time, f string) string {
	var sb strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 == len(f) {
			sb.WriteByte(f[i])
			continue
		}
		i++
		switch f[i] {
		case 'd':
			fmt.Fprintf(&sb, "%02d", t.Day())
		case 'm':
			fmt.Fprintf(&sb, "%02d", int(t.Month()))
		case 'Y':
			fmt.Fprintf(&sb, "%d", t.Year())
		case 'y':
			fmt.Fprintf(&sb, "%02d", t.Year()%100)
		case 'H':
			fmt.Fprintf(&sb, "%02d", t.Hour())
		case 'I':
			fmt.Fprintf(&sb, "%02d", (t.Hour()+11)%12+1)
		case 'p':
			sb.WriteString(t.Format("PM"))
		case 'M':
			fmt.Fprintf(&sb, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&sb, "%02d", t.Second())
		case 'b', 'h':
			sb.WriteString(t.Format("Jan"))
		case 'B':
			sb.WriteString(t.Format("January"))
		case 'a':
			sb.WriteString(t.Format("Mon"))
		case 'A':
			sb.WriteString(t.Format("Monday"))
		case 'j':
			fmt.Fprintf(&sb, "%03d", t.YearDay())
		case 'e':
			fmt.Fprintf(&sb, "%2d", t.Day())
		case '%':
			sb.WriteByte('%')
		default:
			sb.WriteByte('%')
			sb.WriteByte(f[i])
		}
	}
	return sb.String()
}

// jsonMarshalOrdered encodes values decoded by decodeOrdered, keeping key order.
func jsonMarshalOrdered(v any) ([]byte, error) {
	var sb strings.Builder
	if err := writeJSON(&sb, toValue(v), -1, 0, ",", ":", false); err != nil {
		return nil, err
	}
	return []byte(sb.String()), nil
}
