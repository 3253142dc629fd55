package sentencepiece

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func repoAssets(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "assets")
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("go.mod not found")
		}
		dir = filepath.Dir(dir)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	m, err := Load(filepath.Join(repoAssets(t), "models", "stories260K", "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	// Values cross-checked with python3-sentencepiece (get_piece_size, id_to_piece, get_score).
	if len(m.Pieces) != 512 || m.Trainer.ModelType != BPE || !m.Trainer.ByteFallback || m.Trainer.VocabSize != 512 {
		t.Errorf("pieces %d, type %v, byte fallback %v, vocab %d", len(m.Pieces), m.Trainer.ModelType, m.Trainer.ByteFallback, m.Trainer.VocabSize)
	}
	if p := m.Pieces[259]; p.Piece != "▁t" || p.Score != 0 || p.Type != Normal {
		t.Errorf("piece 259 = %+v", p)
	}
	if p := m.Pieces[260]; p.Piece != "he" || p.Score != -1 {
		t.Errorf("piece 260 = %+v", p)
	}
	if m.Pieces[0].Type != Unknown || m.Pieces[1].Type != Control || m.Pieces[3].Piece != "<0x00>" || m.Pieces[3].Type != Byte {
		t.Errorf("special pieces: %+v %+v %+v", m.Pieces[0], m.Pieces[1], m.Pieces[3])
	}
	if m.Trainer.UnkID != 0 || m.Trainer.BOSID != 1 || m.Trainer.EOSID != 2 || m.Trainer.PadID != -1 {
		t.Errorf("ids: %+v", m.Trainer)
	}
	if n := m.Normalizer; n.Name != "identity" || !n.AddDummyPrefix || !n.RemoveExtraWhitespaces || !n.EscapeWhitespaces {
		t.Errorf("normalizer: %+v", n)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	good, err := os.ReadFile(filepath.Join(repoAssets(t), "models", "stories260K", "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "no pieces"},
		{"truncated", good[:50], "past end of message"},
		{"bad wire type", []byte{0x0b}, "unsupported wire type"},
		{"piece as varint", []byte{0x08, 0x01}, "pieces[0]: wire type 0"},
		{"bad piece type", []byte{0x0a, 0x05, 0x0a, 0x01, 'a', 0x18, 0x09}, "pieces[0]: type: unknown value 9"},
		{"unk id out of range", []byte{0x0a, 0x03, 0x0a, 0x01, 'a', 0x12, 0x03, 0xc0, 0x02, 0x05}, "unk_id: 5 out of range"},
		{"bad model type", []byte{0x0a, 0x03, 0x0a, 0x01, 'a', 0x12, 0x02, 0x18, 0x07}, "model_type: unknown value 7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
