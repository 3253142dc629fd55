package format

import (
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/whetstone/whetstone/internal/data/datatest"
	"github.com/whetstone/whetstone/internal/data/reader"
	"github.com/whetstone/whetstone/internal/data/record"
)

func load(t *testing.T, rel string) []reader.Row {
	t.Helper()
	r, err := reader.Open(datatest.Dataset(t, rel), reader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var rows []reader.Row
	for {
		row, err := r.Next()
		if err == io.EOF {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
}

func TestRealDatasets(t *testing.T) {
	t.Parallel()
	yes := true
	tests := []struct {
		path   string
		format record.Format
		rows   int
		index  int
		want   record.Record // compared on the fields set
	}{
		{"llama-factory/alpaca_en_demo.json", record.Alpaca, 999, 0,
			record.Record{Instruction: "Describe a process of making crepes."}},
		{"llama-factory/identity.json", record.Alpaca, 91, 0,
			record.Record{Instruction: "hi", Output: "Hello! I am {{name}}, an AI assistant developed by {{author}}. How can I assist you today?"}},
		{"torchtune/alpaca_tiny.json", record.Alpaca, 100, 0, record.Record{Instruction: "Give three tips for staying healthy."}},
		{"torchtune/instruct_tiny.json", record.Alpaca, 2, 0, record.Record{Instruction: "What time is it in London?", Output: "It is 10:00 AM in London"}},
		{"llama-factory/v1_sft_demo.jsonl", record.Messages, 500, 0, record.Record{Messages: msgs("user", "hi", "assistant", "Hello! I am {{name}}, an AI assistant developed by {{author}}. How can I assist you today?")}},
		{"torchtune/chat_tiny.json", record.ShareGPT, 1, 0, record.Record{Messages: msgs("system", "You are an AI assistant.", "user", "What is the meaning of life?", "assistant", "The meaning of life is 42.", "user", "That's ridiculous.", "assistant", "I agree.")}},
		{"llama-factory/glaive_toolcall_en_demo.json", record.ShareGPT, 300, 0, record.Record{}},
		{"llama-factory/c4_demo.jsonl", record.Text, 300, 0, record.Record{}},
		{"llama-factory/wiki_demo.txt", record.Text, 30, 0, record.Record{}},
		{"llama-factory/dpo_en_demo.json", record.Preference, 300, 0, record.Record{Messages: msgs("user", "Hi! I'd like to create a new language game simulating the first person perspective of a character named Angela.")}},
		{"llama-factory/v1_dpo_demo.jsonl", record.Preference, 10, 0, record.Record{}},
		{"torchtune/hh_rlhf_tiny.json", record.Preference, 1, 0, record.Record{
			Messages: msgs("user", "What do I do when I have a hole in my trousers?"),
			Chosen:   msgs("assistant", "Fix the hole."), Rejected: msgs("assistant", "Take them off.")}},
		{"llama-factory/kto_en_demo.json", record.KTO, 300, 0, record.Record{Label: &yes}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			rows := load(t, tt.path)
			sample := make([]map[string]any, 0, 100)
			for _, r := range rows[:min(100, len(rows))] {
				sample = append(sample, r.Fields)
			}
			f, err := Detect(sample)
			if err != nil {
				t.Fatal(err)
			}
			if f != tt.format {
				t.Fatalf("format = %s, want %s", f, tt.format)
			}
			if len(rows) != tt.rows {
				t.Errorf("rows = %d, want %d", len(rows), tt.rows)
			}
			var recs []record.Record
			for _, row := range rows {
				r, err := Normalize(f, row.Fields, row.Line)
				if err != nil {
					t.Fatalf("line %d: %v", row.Line, err)
				}
				if len(r.Missing) > 0 {
					t.Fatalf("line %d: missing %v", row.Line, r.Missing)
				}
				if r.Size() == 0 {
					t.Fatalf("line %d: empty record", row.Line)
				}
				recs = append(recs, r)
			}
			got := recs[tt.index]
			if tt.want.Instruction != "" && got.Instruction != tt.want.Instruction {
				t.Errorf("instruction = %q", got.Instruction)
			}
			if tt.want.Output != "" && got.Output != tt.want.Output {
				t.Errorf("output = %q", got.Output)
			}
			if tt.want.Messages != nil {
				if d := cmp.Diff(tt.want.Messages, got.Messages); d != "" {
					t.Errorf("messages (-want +got)\n%s", d)
				}
			}
			if tt.want.Chosen != nil {
				if d := cmp.Diff(tt.want.Chosen, got.Chosen); d != "" {
					t.Errorf("chosen (-want +got)\n%s", d)
				}
				if d := cmp.Diff(tt.want.Rejected, got.Rejected); d != "" {
					t.Errorf("rejected (-want +got)\n%s", d)
				}
			}
			if tt.want.Label != nil && (got.Label == nil || *got.Label != *tt.want.Label) {
				t.Errorf("label = %v", got.Label)
			}
			// Every preference row has a prompt and differing answers.
			if f == record.Preference {
				for _, r := range recs {
					if len(r.Messages) == 0 || len(r.Chosen) == 0 || len(r.Rejected) == 0 {
						t.Fatalf("line %d: prompt %d chosen %d rejected %d turns", r.Line, len(r.Messages), len(r.Chosen), len(r.Rejected))
					}
				}
			}
			// The canonical encoding round-trips.
			for _, r := range recs[:min(20, len(recs))] {
				b, err := r.MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				var back record.Record
				if err := record.Decode(b, f, &back); err != nil {
					t.Fatalf("decode %s: %v", b, err)
				}
				if d := cmp.Diff(r, back); d != "" {
					t.Fatalf("round trip (-want +got)\n%s", d)
				}
			}
		})
	}
}

func TestDetectRow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		row  map[string]any
		want record.Format
	}{
		{map[string]any{"prompt": "p", "completion": "c"}, record.Completion},
		{map[string]any{"prompt": "p", "completion": "c", "label": "false"}, record.KTO},
		{map[string]any{"prompt": "p", "chosen": "a", "rejected": "b"}, record.Preference},
		{map[string]any{"body": "only text"}, record.Text},
		{map[string]any{"a": "x", "b": "y"}, ""},
		{map[string]any{"messages": []any{map[string]any{"from": "human", "value": "x"}}}, record.ShareGPT},
	}
	for _, tt := range tests {
		if got := DetectRow(tt.row); got != tt.want {
			t.Errorf("DetectRow(%v) = %q, want %q", tt.row, got, tt.want)
		}
	}
}

func TestMappingFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		m    Mapping
		want record.Format
	}{
		{Mapping{"instruction": "q", "output": "a"}, record.Alpaca},
		{Mapping{"text": "body"}, record.Text},
		{Mapping{"prompt": "q", "completion": "a"}, record.Completion},
		{Mapping{"prompt": "q", "chosen": "good", "rejected": "bad"}, record.Preference},
		{Mapping{"messages": "turns", "label": "ok"}, record.KTO},
		{Mapping{"conversations": "c"}, record.ShareGPT},
		{Mapping{"input": "x"}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := tt.m.Format(); got != tt.want {
			t.Errorf("%v.Format() = %q, want %q", tt.m, got, tt.want)
		}
	}
}

func TestMappingAndErrors(t *testing.T) {
	t.Parallel()
	row := map[string]any{"q": "What?", "a": "That.", "extra": 1.0}
	Mapping{"instruction": "q", "output": "a"}.Apply(row)
	if f := DetectRow(row); f != record.Alpaca {
		t.Fatalf("mapped row detected as %q", f)
	}
	r, err := Normalize(record.Alpaca, row, 3)
	if err != nil || r.Instruction != "What?" || r.Output != "That." || r.Line != 3 {
		t.Fatalf("got %+v, %v", r, err)
	}
	r, err = Normalize(record.Alpaca, map[string]any{"instruction": "x"}, 1)
	if err != nil || !cmp.Equal(r.Missing, []string{"output"}) {
		t.Errorf("missing: %v %v", r.Missing, err)
	}
	if _, err := Normalize(record.Messages, map[string]any{"messages": "not json"}, 1); err == nil {
		t.Error("messages as a plain string: no error")
	}
	if _, err := Normalize(record.Alpaca, map[string]any{"instruction": []any{1.0}, "output": "x"}, 1); err == nil {
		t.Error("instruction as a list: no error")
	}
	// CSV cells holding JSON message lists.
	r, err = Normalize(record.Messages, map[string]any{"messages": `[{"role": "user", "content": "hi"}]`}, 2)
	if err != nil || len(r.Messages) != 1 || r.Messages[0].Content != "hi" {
		t.Errorf("JSON cell: %+v %v", r, err)
	}
}

func msgs(kv ...string) []record.Message {
	var out []record.Message
	for i := 0; i < len(kv); i += 2 {
		out = append(out, record.Message{Role: kv[i], Content: kv[i+1]})
	}
	return out
}
