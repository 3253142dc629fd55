package template

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/whetstone/whetstone/internal/data/datatest"
	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

func msgs(kv ...string) []record.Message {
	var out []record.Message
	for i := 0; i < len(kv); i += 2 {
		out = append(out, record.Message{Role: kv[i], Content: kv[i+1]})
	}
	return out
}

func TestAlpaca(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		r        record.Record
		kind     string
		prompt   string
		text     string
		messages bool
	}{
		{"alpaca with input", record.Record{Format: record.Alpaca, Instruction: "Add.", Input: "2 and 3", Output: "5"}, Alpaca,
			"Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\nAdd.\n\n### Input:\n2 and 3\n\n### Response:\n",
			"Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\nAdd.\n\n### Input:\n2 and 3\n\n### Response:\n5", false},
		{"alpaca no input", record.Record{Format: record.Alpaca, Instruction: "Say hi.", Output: "Hi"}, Alpaca,
			"Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nSay hi.\n\n### Response:\n",
			"Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nSay hi.\n\n### Response:\nHi", false},
		{"messages as alpaca", record.Record{Format: record.Messages, Messages: msgs("system", "Be brief.", "user", "Hello?", "assistant", "Hi.")}, Alpaca,
			"Be brief.\n\n### Instruction:\nHello?\n\n### Response:\n", "Be brief.\n\n### Instruction:\nHello?\n\n### Response:\nHi.", false},
		{"multi-turn none", record.Record{Format: record.Messages, Messages: msgs("user", "A?", "assistant", "B.", "user", "C?", "assistant", "D.", "user", "dangling")}, None,
			"User: A?\nAssistant: B.\nUser: C?\n\n", "User: A?\nAssistant: B.\nUser: C?\n\nD.", false},
		{"completion none", record.Record{Format: record.Completion, Prompt: "Once upon", Completion: " a time"}, None, "Once upon", "Once upon a time", false},
		{"text", record.Record{Format: record.Text, Text: "raw"}, Alpaca, "", "raw", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			row, err := Apply(tt.kind, &tt.r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if row.Prompt != tt.prompt || row.Text != tt.text {
				t.Errorf("prompt %q\ntext %q", row.Prompt, row.Text)
			}
			if (row.Messages != nil) != tt.messages {
				t.Errorf("messages %v", row.Messages)
			}
		})
	}
	if _, err := Apply(Alpaca, &record.Record{Format: record.Messages, Messages: msgs("user", "only a question")}, nil); !errors.Is(err, ErrNoTarget) {
		t.Errorf("no assistant turn: %v", err)
	}
}

func TestChat(t *testing.T) {
	t.Parallel()
	tok, err := tokenizer.Load(datatest.Asset(t, "tokenizers/smollm2-135m"))
	if err != nil {
		t.Fatal(err)
	}
	r := record.Record{Format: record.Messages, Messages: msgs("system", "Be brief.", "user", "Hello?", "assistant", "Hi.")}
	row, err := Apply(Chat, &r, tok)
	if err != nil {
		t.Fatal(err)
	}
	// SmolLM2's ChatML template.
	wantPrompt := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello?<|im_end|>\n<|im_start|>assistant\n"
	if row.Prompt != wantPrompt || row.Text != wantPrompt+"Hi.<|im_end|>\n" {
		t.Errorf("prompt %q\ntext %q", row.Prompt, row.Text)
	}
	pref := record.Record{Format: record.Preference, Messages: msgs("user", "Pick"), Chosen: msgs("assistant", "good"), Rejected: msgs("assistant", "bad")}
	row, err = Apply(Chat, &pref, tok)
	if err != nil {
		t.Fatal(err)
	}
	want := Row{Prompt: "<|im_start|>user\nPick<|im_end|>\n<|im_start|>assistant\n", Text: "<|im_start|>user\nPick<|im_end|>\n<|im_start|>assistant\ngood<|im_end|>\n",
		Chosen: "good<|im_end|>\n", Rejected: "bad<|im_end|>\n", Messages: msgs("user", "Pick", "assistant", "good")}
	if d := cmp.Diff(want, row); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	// stories260K has no chat template.
	spm, err := tokenizer.Load(datatest.Asset(t, "models/stories260K"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(Chat, &r, spm); !errors.Is(err, tokenizer.ErrNoChatTemplate) {
		t.Errorf("no template: %v", err)
	}
}
