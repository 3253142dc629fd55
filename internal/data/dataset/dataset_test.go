package dataset

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/data/reader"
	"github.com/whetstone/whetstone/internal/data/record"
)

func TestStreams(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	canon := filepath.Join(dir, "data.jsonl")
	os.WriteFile(canon, []byte("{\"text\":\"one\",\"_line\":4}\n\n{\"text\":\"two\"}\nnot json\n{\"text\":\"three\"}\n"), 0o644)
	raw := filepath.Join(dir, "raw.csv")
	os.WriteFile(raw, []byte("instruction,output\nq1,a1\nbad\nq2,a2\n"), 0o644)
	tests := []struct {
		art    agent.Artifact
		format record.Format
		want   []string // text, or instruction for alpaca
		lines  []int
		bad    []int // lines of unreadable records
	}{
		{agent.Artifact{Path: canon, Meta: map[string]any{"format": "text"}}, record.Text, []string{"one", "two", "three"}, []int{4, 3, 5}, []int{4}},
		{agent.Artifact{Path: dir}, record.Text, []string{"one", "two", "three"}, []int{1, 3, 5}, []int{4}}, // folder with data.jsonl, read as a source
		{agent.Artifact{Path: raw}, record.Alpaca, []string{"q1", "q2"}, []int{2, 4}, []int{3}},
	}
	for _, tt := range tests {
		s, err := Open(tt.art)
		if err != nil {
			t.Fatal(err)
		}
		if s.Format() != tt.format {
			t.Errorf("%s: format %s", tt.art.Path, s.Format())
		}
		var got []string
		var lines, bad []int
		for {
			var r record.Record
			err := s.Next(&r)
			if err == io.EOF {
				break
			}
			var re *reader.Error
			if errors.As(err, &re) && !re.Fatal {
				bad = append(bad, re.Line)
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, r.Text+r.Instruction)
			lines = append(lines, r.Line)
		}
		s.Close()
		if len(got) != len(tt.want) || got[len(got)-1] != tt.want[len(tt.want)-1] || len(bad) != len(tt.bad) || bad[0] != tt.bad[0] || lines[0] != tt.lines[0] {
			t.Errorf("%s: got %v lines %v bad %v", tt.art.Path, got, lines, bad)
		}
	}
	if _, err := Open(agent.Artifact{Path: t.TempDir()}); err == nil {
		t.Error("empty folder accepted")
	}
	if _, err := OpenFile(canon, "nonsense"); err == nil {
		t.Error("unknown format accepted")
	}
}
