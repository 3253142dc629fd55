package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// config is the part of tokenizer_config.json the tokenizer uses.
type config struct {
	BOSToken, EOSToken, UnkToken, PadToken *string
	AddBOSToken, AddEOSToken               *bool
	CleanUpSpaces                          bool
	TokenizerClass                         string
	// Templates maps template names to Jinja source; the unnamed one is "default".
	Templates map[string]string
	Extra     []string // additional_special_tokens and added_tokens_decoder specials
}

// tokenString accepts "tok", null or {"content": "tok", ...}.
func tokenString(raw json.RawMessage) (*string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return &s, nil
	}
	var o struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	return o.Content, nil
}

func loadConfig(dir string) (config, error) {
	var c config
	path := filepath.Join(dir, "tokenizer_config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("tokenizer: %w", err)
	}
	if err := parseConfig(b, &c); err != nil {
		return c, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	// Some models keep the chat template in chat_template.jinja / chat_template.json.
	if len(c.Templates) == 0 {
		if b, err := os.ReadFile(filepath.Join(dir, "chat_template.jinja")); err == nil {
			c.Templates = map[string]string{"default": string(b)}
		} else if b, err := os.ReadFile(filepath.Join(dir, "chat_template.json")); err == nil {
			var o struct {
				ChatTemplate json.RawMessage `json:"chat_template"`
			}
			if err := json.Unmarshal(b, &o); err != nil {
				return c, fmt.Errorf("tokenizer: chat_template.json: %w", err)
			}
			if c.Templates, err = parseTemplates(o.ChatTemplate); err != nil {
				return c, fmt.Errorf("tokenizer: chat_template.json: chat_template: %w", err)
			}
		}
	}
	return c, nil
}

func parseConfig(b []byte, c *config) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	var err error
	for _, f := range []struct {
		name string
		dst  **string
	}{{"bos_token", &c.BOSToken}, {"eos_token", &c.EOSToken}, {"unk_token", &c.UnkToken}, {"pad_token", &c.PadToken}} {
		if *f.dst, err = tokenString(raw[f.name]); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	for _, f := range []struct {
		name string
		dst  **bool
	}{{"add_bos_token", &c.AddBOSToken}, {"add_eos_token", &c.AddEOSToken}} {
		if v, ok := raw[f.name]; ok && string(v) != "null" {
			var x bool
			if err := json.Unmarshal(v, &x); err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
			*f.dst = &x
		}
	}
	if v, ok := raw["tokenizer_class"]; ok {
		_ = json.Unmarshal(v, &c.TokenizerClass)
	}
	if v, ok := raw["clean_up_tokenization_spaces"]; ok {
		_ = json.Unmarshal(v, &c.CleanUpSpaces)
	}
	if v, ok := raw["chat_template"]; ok {
		if c.Templates, err = parseTemplates(v); err != nil {
			return fmt.Errorf("chat_template: %w", err)
		}
	}
	if v, ok := raw["additional_special_tokens"]; ok && string(v) != "null" {
		var list []json.RawMessage
		if err := json.Unmarshal(v, &list); err != nil {
			return fmt.Errorf("additional_special_tokens: %w", err)
		}
		for _, e := range list {
			if s, err := tokenString(e); err == nil && s != nil {
				c.Extra = append(c.Extra, *s)
			}
		}
	}
	if v, ok := raw["added_tokens_decoder"]; ok {
		var m map[string]struct {
			Content string `json:"content"`
			Special bool   `json:"special"`
		}
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("added_tokens_decoder: %w", err)
		}
		for _, a := range m {
			if a.Special {
				c.Extra = append(c.Extra, a.Content)
			}
		}
	}
	return nil
}

func parseTemplates(v json.RawMessage) (map[string]string, error) {
	if string(v) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return map[string]string{"default": s}, nil
	}
	var list []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(v, &list); err != nil {
		return nil, errors.New("want a string or a list of {name, template}")
	}
	m := map[string]string{}
	for _, e := range list {
		m[e.Name] = e.Template
	}
	return m, nil
}

func (c *config) specialTokens() []string {
	var out []string
	for _, p := range []*string{c.BOSToken, c.EOSToken, c.UnkToken, c.PadToken} {
		if p != nil {
			out = append(out, *p)
		}
	}
	return append(out, c.Extra...)
}

func (c *config) addBOS(def bool) bool {
	if c.AddBOSToken != nil {
		return *c.AddBOSToken
	}
	return def
}

func (c *config) addEOS(def bool) bool {
	if c.AddEOSToken != nil {
		return *c.AddEOSToken
	}
	return def
}

// endOfTurn lists the end-of-turn markers of common chat formats.
var endOfTurn = []string{"<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|end_of_text|>", "<|eom_id|>"}

func (t *Tokenizer) computeStops(dir string) []int {
	var stops []int
	if t.eos >= 0 {
		stops = append(stops, t.eos)
	}
	add := func(id int) {
		if id >= 0 && !slices.Contains(stops, id) {
			stops = append(stops, id)
		}
	}
	for _, tmpl := range t.cfg.Templates {
		for _, m := range endOfTurn {
			if id, ok := t.tokenToID[m]; ok && strings.Contains(tmpl, m) {
				add(id)
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "generation_config.json")); err == nil {
		var g struct {
			EOS json.RawMessage `json:"eos_token_id"`
		}
		if json.Unmarshal(b, &g) == nil {
			var one int
			var many []int
			if json.Unmarshal(g.EOS, &one) == nil {
				add(one)
			} else if json.Unmarshal(g.EOS, &many) == nil {
				for _, id := range many {
					add(id)
				}
			}
		}
	}
	return stops
}
