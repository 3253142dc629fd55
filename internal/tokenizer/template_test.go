package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestJinja2Compat renders small templates that exercise whitespace control, tojson and other
// engine details, against outputs of Python Jinja2 configured like transformers
// (testdata/gen_jinja2_compat.py).
func TestJinja2Compat(t *testing.T) {
	nowFunc = func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }
	b, err := os.ReadFile("testdata/jinja2_compat.json")
	if err != nil {
		t.Fatal(err)
	}
	v, err := decodeOrdered(b)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := os.ReadFile("testdata/jinja2_compat.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden map[string]string
	if err := json.Unmarshal(gb, &golden); err != nil {
		t.Fatal(err)
	}
	cases := v.([]any)
	if len(cases) != len(golden) {
		t.Fatalf("%d cases, %d goldens: rerun testdata/gen_jinja2_compat.py", len(cases), len(golden))
	}
	bos, eos := "<s>", "</s>"
	for _, c := range cases {
		c := c.(map[string]any)
		name := c["name"].(string)
		t.Run(name, func(t *testing.T) {
			want, ok := golden[name]
			if !ok {
				t.Fatalf("no golden for %q", name)
			}
			tok := &Tokenizer{cfg: config{Templates: map[string]string{"default": c["template"].(string)}, BOSToken: &bos, EOSToken: &eos}}
			var extra map[string]any
			if vars, ok := c["vars"].(map[string]any); ok {
				extra = map[string]any{}
				for k, val := range vars {
					if k != KeyOrder {
						extra[k] = val
					}
				}
			}
			got, err := tok.ApplyChatTemplate([]map[string]any{}, ChatOptions{Extra: extra})
			if msg, ok := strings.CutPrefix(want, "ERROR: "); ok {
				var te *TemplateError
				if !errors.As(err, &te) || te.Message != msg {
					t.Fatalf("got %q, %v; want raise_exception(%q)", got, err, msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("template %q (-want +got):\n%s\nrewritten: %q", c["template"], diff, prepareTemplate(c["template"].(string)))
			}
		})
	}
}

func TestRewriteTojson(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{" t | tojson(indent=4) ", " __tojson(t, indent=4) "},
		{" t|tojson ", " __tojson(t) "},
		{" message.tool_calls[0]['function'] | tojson(indent = width) ~ 'x' ", " __tojson(message.tool_calls[0]['function'], indent = width) ~ 'x' "},
		{" x | tojson(separators=(',', ':')) | safe ", " __tojson(x, separators=(',', ':')) | safe "},
		{" a ~ b | tojson ~ c | tojson ", " a ~ __tojson(b) ~ __tojson(c) "},
		{" 'a' if x else y | tojson ", " 'a' if x else __tojson(y) "},
		{" not x | tojson ", " not __tojson(x) "},
		{" set j = d | tojson ", " set j = __tojson(d) "},
		// Left to the engine: operands that are not a plain path, positional arguments.
		{" f(x).y | tojson ", " f(x).y | tojson "},
		{" s.strip() | tojson ", " s.strip() | tojson "},
		{" (a ~ b) | tojson ", " (a ~ b) | tojson "},
		{" 'x'.y | tojson ", " 'x'.y | tojson "},
		{" x | tojson(4) ", " x | tojson(4) "},
		{" x | tojsonx ", " x | tojsonx "},
		{" x | tojson(indent=2 ", " x | tojson(indent=2 "},
	} {
		if got := rewriteTojson(tc.in); got != tc.want {
			t.Errorf("rewriteTojson(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestTemplateErrorLines checks that rewriting a template keeps the line numbers of the engine's
// parse errors those of the source.
func TestTemplateErrorLines(t *testing.T) {
	for _, tc := range []struct {
		src, line string
	}{
		{"{% if true %}\n\n   {{- x }}\n   {%- endif %}\n{{ foo( }}", "line 5:"},
		{"{% if true -%}\n\n\n{% endif %}\n\n{% endfor %}", "line 6:"},
		{"a\n{% raw -%}\n\n{%- endraw %}\n{{ 1 + }}", "line 5:"},
		{"x\r\n\r\n  {%- if true %}{{ 1 + }}{% endif %}", "line 3:"},
	} {
		_, err := compileTemplate(tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.line) {
			t.Errorf("compile %q: error %v, want one at %s", tc.src, err, tc.line)
		}
	}
}

// TestJinja2Random renders random mixes of text, whitespace, tags and whitespace markers against
// Python Jinja2's output (testdata/gen_jinja2_random.py).
func TestJinja2Random(t *testing.T) {
	b, err := os.ReadFile("testdata/jinja2_random.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct{ Template, Want string }
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i, c := range cases {
		tok := &Tokenizer{cfg: config{Templates: map[string]string{"default": c.Template}}}
		got, err := tok.ApplyChatTemplate([]map[string]any{}, ChatOptions{Extra: map[string]any{"x": "X", "y": 2}})
		if err != nil || got != c.Want {
			if bad++; bad <= 10 {
				t.Errorf("case %d %q: got %q, %v; want %q\nrewritten: %q", i, c.Template, got, err, c.Want, prepareTemplate(c.Template))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d templates differ from Jinja2", bad, len(cases))
	}
}

// FuzzPrepareTemplate: rewriting and compiling any template must not panic, and a template the
// rewrite keeps (no tags) must render its text unchanged apart from Jinja2's newline handling.
func FuzzPrepareTemplate(f *testing.F) {
	for _, s := range []string{
		"Effort: {{ x }}{%- if true %}!{%- endif %}", "a{ {%- if true %}b{% endif %}{ {{- 'c' }}",
		"{% raw %}{{ x }} {%- y %}{% endraw %}", "{{--1}}", "{{ t | tojson(indent=4) }}", "{%+ if x +%}\r\n{% endif %}",
		"{{ x | tojson(separators=(',', ':')) }}", "{% raw %}", "{{ '}}' }}", "plain text\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		out := prepareTemplate(src)
		if _, err := compileTemplate(src); err != nil {
			return
		}
		if !strings.Contains(src, "{") {
			want := strings.TrimSuffix(strings.ReplaceAll(strings.ReplaceAll(src, "\r\n", "\n"), "\r", "\n"), "\n")
			tok := &Tokenizer{cfg: config{Templates: map[string]string{"default": src}}}
			got, err := tok.ApplyChatTemplate([]map[string]any{}, ChatOptions{})
			if err != nil || got != want {
				t.Fatalf("text %q rendered %q, %v (rewritten %q)", src, got, err, out)
			}
		}
	})
}
