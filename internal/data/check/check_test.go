package check

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/whetstone/whetstone/internal/data/dataset"
	"github.com/whetstone/whetstone/internal/data/reader"
	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/data/synth"
)

func alpaca(ins, in, out string) *record.Record {
	return &record.Record{Format: record.Alpaca, Instruction: ins, Input: in, Output: out}
}

func chat(kv ...string) *record.Record {
	r := &record.Record{Format: record.Messages}
	for i := 0; i < len(kv); i += 2 {
		r.Messages = append(r.Messages, record.Message{Role: kv[i], Content: kv[i+1]})
	}
	return r
}

// sentence returns a distinct, clean, 40-word sentence.
func sentence(r *rand.Rand) string {
	w := make([]string, 40)
	for i := range w {
		w[i] = fmt.Sprintf("word%d", r.IntN(100000))
	}
	return strings.Join(w, " ")
}

func run(t *testing.T, opts Options, recs []*record.Record) Report {
	t.Helper()
	opts.TempDir = t.TempDir()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, r := range recs {
		if r == nil {
			c.Unreadable(i+1, &reader.Error{Line: i + 1, Column: 7, Msg: "malformed JSON"})
			continue
		}
		r.Line = i + 1
		if err := c.Add(i+1, r); err != nil {
			t.Fatal(err)
		}
	}
	return c.Report(record.Alpaca)
}

// counts returns kind -> rows, and kind -> row numbers.
func counts(rep Report) (map[string]int, map[string][]int) {
	n, rows := map[string]int{}, map[string][]int{}
	for _, f := range rep.Findings {
		n[f.Kind] = f.Rows
		rows[f.Kind] = f.RowList
	}
	return n, rows
}

func TestPlanted(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	var recs []*record.Record
	clean := func() *record.Record { return alpaca(sentence(r), "", sentence(r)) }
	for i := 0; i < 50; i++ {
		recs = append(recs, clean())
	}
	plant := func(rec *record.Record) int { recs = append(recs, rec); return len(recs) }
	// Duplicates: 3 exact copies, 2 near copies (one word changed of 80).
	dup := []int{plant(alpaca(recs[0].Instruction, "", recs[0].Output)), plant(alpaca(recs[1].Instruction, "", recs[1].Output)), plant(alpaca(recs[1].Instruction, "", recs[1].Output))}
	nearText := strings.Replace(recs[2].Output, "word", "mord", 1)
	near := []int{plant(alpaca(recs[2].Instruction, "", nearText)), plant(alpaca(recs[3].Instruction, "", strings.Replace(recs[3].Output, "word", "ward", 1)))}
	// PII, one row per kind (plus sentence padding so nothing else fires).
	piiRows := map[string]int{}
	for kind, text := range map[string]string{
		"pii.email":        "contact jane.doe@example.com",
		"pii.phone":        "call (555) 123-4567",
		"pii.card":         "card 4111 1111 1111 1111",
		"pii.iban":         "iban DE89 3704 0044 0532 0130 00",
		"pii.ssn":          "ssn 123-45-6789",
		"pii.ipv4":         "server 192.168.0.17",
		"pii.ipv6":         "server 2001:db8::ff00:42:8329",
		"pii.aws_key":      "key AKIAIOSFODNN7EXAMPLE",
		"pii.github_token": "token ghp_" + strings.Repeat("x1Y", 12),
		"pii.slack_token":  "token xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
		"pii.jwt":          "jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
		"pii.private_key":  "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----",
	} {
		piiRows[kind] = plant(alpaca(sentence(r), "", sentence(r)+" "+text))
	}
	// Near misses that must not count: card failing Luhn, IBAN with a bad
	// checksum, an invalid SSN area, a short AWS key.
	plant(alpaca(sentence(r), "", sentence(r)+" 4111 1111 1111 1112 DE89 3704 0044 0532 0130 01 666-12-3456 AKIAIOSFODNN7EXAMPL"))
	// Fields and quality.
	missing := plant(&record.Record{Format: record.Alpaca, Instruction: sentence(r), Missing: []string{"output"}})
	empty := plant(alpaca(sentence(r), "", "   "))
	short := plant(alpaca("Hi", "", "Yo"))
	var parts []string
	for i := 0; i < 30; i++ {
		parts = append(parts, sentence(r))
	}
	long := plant(alpaca(sentence(r), "", strings.Join(parts, " ")))
	repeated := plant(alpaca(sentence(r), "", strings.Repeat("the same looping phrase again ", 30)))
	ctrl := plant(alpaca(sentence(r), "", sentence(r)+" bell\x07"))
	moji := plant(alpaca(sentence(r), "", sentence(r)+" CafÃ© itâ€™s"))
	unreadable := len(recs) + 1
	recs = append(recs, nil)

	rep := run(t, Options{Fields: true, Duplicates: true, NearDuplicates: true, PII: true, Quality: true, Structure: true,
		MaxTokens: 1000, NearThreshold: 0.8}, recs)
	got, rows := counts(rep)
	want := map[string]int{Duplicate: 3, NearDuplicate: 2, MissingField: 1, EmptyField: 1, TooShort: 1, TooLong: 1,
		Repeated: 1, NonPrintable: 1, Mojibake: 1, Unreadable: 1}
	for k := range piiRows {
		want[k] = 1
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("finding rows (-want +got)\n%s", d)
	}
	wantRows := map[string][]int{Duplicate: dup, NearDuplicate: near, MissingField: {missing}, EmptyField: {empty},
		TooShort: {short}, TooLong: {long}, Repeated: {repeated}, NonPrintable: {ctrl}, Mojibake: {moji}, Unreadable: {unreadable}}
	for k, v := range piiRows {
		wantRows[k] = []int{v}
	}
	if d := cmp.Diff(wantRows, rows); d != "" {
		t.Errorf("finding row numbers (-want +got)\n%s", d)
	}
	// Default fail_on: unreadable fails, the rest warns.
	if rep.Passed || !cmp.Equal(rep.Failed, []string{Unreadable}) || rep.Findings[0].Kind != Unreadable {
		t.Errorf("passed %v failed %v first %s", rep.Passed, rep.Failed, rep.Findings[0].Kind)
	}
	// Examples are redacted.
	for _, f := range rep.Findings {
		for _, ex := range f.Examples {
			for _, secret := range []string{"jane.doe@", "4111 1111 1111 1111", "AKIAIOSFODNN7EXAMPLE", "MIIEvQIBADANBg", "123-45-6789"} {
				if strings.Contains(ex.Text, secret) {
					t.Errorf("%s example leaks %q: %q", f.Kind, secret, ex.Text)
				}
			}
		}
		if f.Kind == "pii.email" && !strings.Contains(f.Examples[0].Text, "contact [EMAIL]") {
			t.Errorf("email example %q", f.Examples[0].Text)
		}
	}
}

func TestFailOn(t *testing.T) {
	t.Parallel()
	recs := []*record.Record{
		alpaca("Write to me at someone@example.org please", "", "Sure, I will write to you soon."),
		alpaca("Write to me at someone@example.org please", "", "Sure, I will write to you soon."),
		alpaca("A normal instruction that is long enough", "", "A normal answer that is long enough."),
		alpaca("Another normal instruction here for you", "", "Another normal answer right here."),
	}
	tests := []struct {
		failOn []string
		rate   float64
		failed []string
	}{
		{nil, 0, nil},
		{[]string{"pii"}, 0, []string{"pii.email"}},
		{[]string{"duplicate", "pii.email"}, 0, []string{"duplicate", "pii.email"}},
		{[]string{"warning"}, 0, []string{"duplicate", "pii.email"}},
		{[]string{"pii"}, 0.5, nil}, // 2 of 4 rows: not above 50%
		{[]string{"pii"}, 0.25, []string{"pii.email"}},
		{[]string{}, 0, nil},
	}
	for _, tt := range tests {
		rep := run(t, Options{Fields: true, Duplicates: true, PII: true, FailOn: tt.failOn, FailRate: tt.rate}, recs)
		if !cmp.Equal(rep.Failed, tt.failed) || rep.Passed != (len(tt.failed) == 0) {
			t.Errorf("fail_on %v rate %v: failed %v passed %v", tt.failOn, tt.rate, rep.Failed, rep.Passed)
		}
	}
}

func TestStructure(t *testing.T) {
	t.Parallel()
	yes := true
	recs := []*record.Record{
		chat("system", "Be nice.", "user", "Hello there, how are you?", "assistant", "Fine, thank you for asking!"),                                   // ok
		chat("user", "Hello there, how are you?", "assistant", "Fine.", "user", "And then what happens?"),                                             // last turn
		chat("assistant", "I speak first, which is odd", "user", "Hello there again my friend"),                                                       // order + last
		chat("user", "Call the weather tool please", "assistant", "{\"name\": \"weather\"}", "tool", "{\"t\": 20}", "assistant", "It is 20 degrees."), // ok
		chat("narrator", "Once upon a time there was", "assistant", "a story that went on and on"),                                                    // unknown role
		chat("user", "Hello there, how are you?", "user", "Are you there? Anyone?", "assistant", "Yes, I am here."),                                   // order
		{Format: record.Preference, Messages: []record.Message{{Role: "user", Content: "Pick the better answer please"}},
			Chosen: []record.Message{{Role: "assistant", Content: "Same answer text"}}, Rejected: []record.Message{{Role: "assistant", Content: "Same answer text"}}},
		{Format: record.KTO, Messages: []record.Message{{Role: "user", Content: "Question for the model here"}, {Role: "assistant", Content: ""}}, Label: &yes},
	}
	rep := run(t, Options{Fields: true, Structure: true}, recs)
	got, rows := counts(rep)
	want := map[string][]int{LastTurn: {2, 3}, RoleOrder: {3, 6}, UnknownRole: {5}, SameAnswers: {7}, EmptyField: {8}}
	if d := cmp.Diff(want, rows); d != "" {
		t.Errorf("(-want +got)\n%s\n%v", d, got)
	}
}

// TestRunWorkers checks that the report does not depend on the number of
// workers, and finds what synth planted.
func TestRunWorkers(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "data.jsonl")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	planted, err := synth.Write(f, synth.Options{Bytes: 1 << 20, Seed: 3})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var reps []Report
	for _, w := range []int{1, 4} {
		s, err := dataset.OpenFile(p, record.Alpaca)
		if err != nil {
			t.Fatal(err)
		}
		opts := Defaults()
		opts.Workers, opts.TempDir = w, t.TempDir()
		rep, err := Run(context.Background(), s, opts)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, rep)
	}
	if d := cmp.Diff(reps[0], reps[1], cmp.AllowUnexported(Finding{})); d != "" {
		t.Errorf("1 vs 4 workers (-1 +4)\n%s", d)
	}
	got, _ := counts(reps[0])
	if got[Duplicate] != planted.Duplicates || reps[0].Rows != planted.Rows {
		t.Errorf("duplicates %d, planted %d; rows %d, planted %d", got[Duplicate], planted.Duplicates, reps[0].Rows, planted.Rows)
	}
	// Near copies of rows that were themselves planted may count as exact
	// or near; allow a small difference.
	if d := got[NearDuplicate] - planted.NearDuplicates; d < -2 || d > 2 {
		t.Errorf("near duplicates %d, planted %d", got[NearDuplicate], planted.NearDuplicates)
	}
	pii := 0
	for k, n := range got {
		if strings.HasPrefix(k, "pii.") {
			pii += n
		}
	}
	if pii < planted.PII {
		t.Errorf("PII rows %d, planted %d", pii, planted.PII)
	}
}
