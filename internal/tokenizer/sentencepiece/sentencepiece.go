// Package sentencepiece reads SentencePiece model files (tokenizer.model): the ModelProto protobuf with
// its pieces, trainer spec and normalizer spec. It decodes the protobuf wire format by hand, so it needs no
// generated code, and it never panics on malformed input: every problem is returned as an error naming the
// field at fault.
package sentencepiece

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
)

// ModelType is the segmentation algorithm of a model (TrainerSpec.model_type).
type ModelType int

// Model types, with the protobuf enum values.
const (
	Unigram ModelType = 1
	BPE     ModelType = 2
	Word    ModelType = 3
	Char    ModelType = 4
)

func (t ModelType) String() string {
	switch t {
	case Unigram:
		return "unigram"
	case BPE:
		return "bpe"
	case Word:
		return "word"
	case Char:
		return "char"
	}
	return fmt.Sprintf("ModelType(%d)", int(t))
}

// PieceType is the type of a vocabulary piece (SentencePiece.type).
type PieceType int

// Piece types, with the protobuf enum values.
const (
	Normal      PieceType = 1
	Unknown     PieceType = 2
	Control     PieceType = 3
	UserDefined PieceType = 4
	Unused      PieceType = 5
	Byte        PieceType = 6
)

// Piece is one vocabulary entry; its id is its index in Model.Pieces.
type Piece struct {
	Piece string
	Score float32
	Type  PieceType
}

// NormalizerSpec holds the text normalization settings of a model.
type NormalizerSpec struct {
	// Name is the rule name, e.g. "identity", "nmt_nfkc".
	Name string
	// PrecompiledCharsmap is the compiled normalization trie (empty for identity).
	PrecompiledCharsmap []byte
	// AddDummyPrefix prepends a whitespace to the text. Defaults to true.
	AddDummyPrefix bool
	// RemoveExtraWhitespaces strips leading/trailing spaces and collapses runs. Defaults to true.
	RemoveExtraWhitespaces bool
	// EscapeWhitespaces replaces spaces with U+2581. Defaults to true.
	EscapeWhitespaces bool
}

// TrainerSpec holds the trainer settings that matter for encoding.
type TrainerSpec struct {
	ModelType               ModelType // Defaults to Unigram.
	VocabSize               int
	TreatWhitespaceAsSuffix bool
	AllowWhitespaceOnly     bool
	SplitDigits             bool
	ByteFallback            bool
	UnkID, BOSID, EOSID     int // Defaults 0, 1, 2; -1 when disabled.
	PadID                   int // Defaults to -1.
	UnkPiece, BOSPiece      string
	EOSPiece, PadPiece      string
	UnkSurface              string // Defaults to " \u2047 ".
}

// Model is a parsed tokenizer.model.
type Model struct {
	Pieces     []Piece
	Trainer    TrainerSpec
	Normalizer NormalizerSpec
	// HasNormalizer reports whether the file carried a normalizer_spec.
	HasNormalizer bool
}

// Load reads and parses a tokenizer.model file.
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sentencepiece: %w", err)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("sentencepiece: %s: %w", path, err)
	}
	return m, nil
}

// Parse decodes a serialized ModelProto.
func Parse(b []byte) (*Model, error) {
	m := &Model{
		Trainer: TrainerSpec{
			ModelType: Unigram, UnkID: 0, BOSID: 1, EOSID: 2, PadID: -1,
			UnkPiece: "<unk>", BOSPiece: "<s>", EOSPiece: "</s>", PadPiece: "<pad>", UnkSurface: " \u2047 ",
		},
		Normalizer: NormalizerSpec{AddDummyPrefix: true, RemoveExtraWhitespaces: true, EscapeWhitespaces: true},
	}
	err := walk(b, func(field int, wt int, v uint64, data []byte) error {
		switch field {
		case 1:
			if wt != 2 {
				return fmt.Errorf("pieces[%d]: wire type %d, want 2", len(m.Pieces), wt)
			}
			p, err := parsePiece(data)
			if err != nil {
				return fmt.Errorf("pieces[%d]: %w", len(m.Pieces), err)
			}
			m.Pieces = append(m.Pieces, p)
		case 2:
			if wt != 2 {
				return fmt.Errorf("trainer_spec: wire type %d, want 2", wt)
			}
			if err := parseTrainer(data, &m.Trainer); err != nil {
				return fmt.Errorf("trainer_spec: %w", err)
			}
		case 3:
			if wt != 2 {
				return fmt.Errorf("normalizer_spec: wire type %d, want 2", wt)
			}
			m.HasNormalizer = true
			if err := parseNormalizer(data, &m.Normalizer); err != nil {
				return fmt.Errorf("normalizer_spec: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(m.Pieces) == 0 {
		return nil, errors.New("no pieces")
	}
	switch m.Trainer.ModelType {
	case Unigram, BPE, Word, Char:
	default:
		return nil, fmt.Errorf("trainer_spec.model_type: unknown value %d", int(m.Trainer.ModelType))
	}
	n := len(m.Pieces)
	for _, f := range []struct {
		name string
		id   int
	}{{"unk_id", m.Trainer.UnkID}, {"bos_id", m.Trainer.BOSID}, {"eos_id", m.Trainer.EOSID}, {"pad_id", m.Trainer.PadID}} {
		if f.id < -1 || f.id >= n {
			return nil, fmt.Errorf("trainer_spec.%s: %d out of range [-1, %d)", f.name, f.id, n)
		}
	}
	return m, nil
}

func parsePiece(b []byte) (Piece, error) {
	p := Piece{Type: Normal}
	err := walk(b, func(field, wt int, v uint64, data []byte) error {
		switch field {
		case 1:
			if wt != 2 {
				return fmt.Errorf("piece: wire type %d", wt)
			}
			p.Piece = string(data)
		case 2:
			if wt != 5 {
				return fmt.Errorf("score: wire type %d", wt)
			}
			p.Score = math.Float32frombits(uint32(v))
		case 3:
			if wt != 0 {
				return fmt.Errorf("type: wire type %d", wt)
			}
			if v < 1 || v > 6 {
				return fmt.Errorf("type: unknown value %d", v)
			}
			p.Type = PieceType(v)
		}
		return nil
	})
	return p, err
}

func parseTrainer(b []byte, t *TrainerSpec) error {
	return walk(b, func(field, wt int, v uint64, data []byte) error {
		asInt := func(name string, dst *int) error {
			if wt != 0 {
				return fmt.Errorf("%s: wire type %d", name, wt)
			}
			*dst = int(int32(v))
			return nil
		}
		asBool := func(name string, dst *bool) error {
			if wt != 0 {
				return fmt.Errorf("%s: wire type %d", name, wt)
			}
			*dst = v != 0
			return nil
		}
		asStr := func(name string, dst *string) error {
			if wt != 2 {
				return fmt.Errorf("%s: wire type %d", name, wt)
			}
			*dst = string(data)
			return nil
		}
		switch field {
		case 3:
			var mt int
			if err := asInt("model_type", &mt); err != nil {
				return err
			}
			t.ModelType = ModelType(mt)
		case 4:
			return asInt("vocab_size", &t.VocabSize)
		case 24:
			return asBool("treat_whitespace_as_suffix", &t.TreatWhitespaceAsSuffix)
		case 25:
			return asBool("split_digits", &t.SplitDigits)
		case 26:
			return asBool("allow_whitespace_only_pieces", &t.AllowWhitespaceOnly)
		case 35:
			return asBool("byte_fallback", &t.ByteFallback)
		case 40:
			return asInt("unk_id", &t.UnkID)
		case 41:
			return asInt("bos_id", &t.BOSID)
		case 42:
			return asInt("eos_id", &t.EOSID)
		case 43:
			return asInt("pad_id", &t.PadID)
		case 44:
			return asStr("unk_surface", &t.UnkSurface)
		case 45:
			return asStr("unk_piece", &t.UnkPiece)
		case 46:
			return asStr("bos_piece", &t.BOSPiece)
		case 47:
			return asStr("eos_piece", &t.EOSPiece)
		case 48:
			return asStr("pad_piece", &t.PadPiece)
		}
		return nil
	})
}

func parseNormalizer(b []byte, n *NormalizerSpec) error {
	return walk(b, func(field, wt int, v uint64, data []byte) error {
		switch field {
		case 1:
			if wt != 2 {
				return fmt.Errorf("name: wire type %d", wt)
			}
			n.Name = string(data)
		case 2:
			if wt != 2 {
				return fmt.Errorf("precompiled_charsmap: wire type %d", wt)
			}
			n.PrecompiledCharsmap = append([]byte(nil), data...)
		case 3, 4, 5:
			if wt != 0 {
				return fmt.Errorf("field %d: wire type %d", field, wt)
			}
			switch field {
			case 3:
				n.AddDummyPrefix = v != 0
			case 4:
				n.RemoveExtraWhitespaces = v != 0
			case 5:
				n.EscapeWhitespaces = v != 0
			}
		}
		return nil
	})
}

// walk iterates the fields of one protobuf message. For varint (0), fixed64 (1) and fixed32 (5) fields v
// holds the value; for length-delimited (2) fields data holds the bytes.
func walk(b []byte, fn func(field, wt int, v uint64, data []byte) error) error {
	for off := 0; off < len(b); {
		key, n := binary.Uvarint(b[off:])
		if n <= 0 {
			return fmt.Errorf("offset %d: bad field key", off)
		}
		off += n
		field, wt := int(key>>3), int(key&7)
		if field == 0 {
			return fmt.Errorf("offset %d: field number 0", off-n)
		}
		var v uint64
		var data []byte
		switch wt {
		case 0:
			v, n = binary.Uvarint(b[off:])
			if n <= 0 {
				return fmt.Errorf("field %d: bad varint", field)
			}
			off += n
		case 1:
			if len(b)-off < 8 {
				return fmt.Errorf("field %d: truncated fixed64", field)
			}
			v = binary.LittleEndian.Uint64(b[off:])
			off += 8
		case 2:
			l, n := binary.Uvarint(b[off:])
			if n <= 0 {
				return fmt.Errorf("field %d: bad length", field)
			}
			off += n
			if l > uint64(len(b)-off) {
				return fmt.Errorf("field %d: length %d past end of message", field, l)
			}
			data = b[off : off+int(l)]
			off += int(l)
		case 5:
			if len(b)-off < 4 {
				return fmt.Errorf("field %d: truncated fixed32", field)
			}
			v = uint64(binary.LittleEndian.Uint32(b[off:]))
			off += 4
		default:
			return fmt.Errorf("field %d: unsupported wire type %d", field, wt)
		}
		if err := fn(field, wt, v, data); err != nil {
			return err
		}
	}
	return nil
}
