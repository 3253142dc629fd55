package convert

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
)

// spmModel is what GGUF needs from a SentencePiece tokenizer.model: the
// pieces with scores and types, the special ids and add_dummy_prefix.
//
// It decodes the protobuf wire format directly (ModelProto field 1 pieces
// {1 piece, 2 score, 3 type}, field 2 trainer_spec {3 model_type, 40 unk_id,
// 41 bos_id, 42 eos_id, 43 pad_id}, field 3 normalizer_spec {3
// add_dummy_prefix}).
type spmModel struct {
	pieces         []spmPiece
	modelType      int // 1 unigram, 2 bpe
	unk, bos, eos  int
	pad            int
	addDummyPrefix bool
}

type spmPiece struct {
	piece string
	score float32
	typ   int32 // 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte
}

func loadSPM(path string) (*spmModel, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := &spmModel{modelType: 1, unk: 0, bos: 1, eos: 2, pad: -1, addDummyPrefix: true}
	err = pbFields(b, func(field int, wire int, v uint64, data []byte) error {
		switch field {
		case 1:
			p := spmPiece{typ: 1}
			if err := pbFields(data, func(f, w int, v uint64, d []byte) error {
				switch {
				case f == 1 && w == 2:
					p.piece = string(d)
				case f == 2 && w == 5:
					p.score = math.Float32frombits(uint32(v))
				case f == 3 && w == 0:
					p.typ = int32(v)
				}
				return nil
			}); err != nil {
				return fmt.Errorf("piece %d: %w", len(m.pieces), err)
			}
			m.pieces = append(m.pieces, p)
		case 2:
			return pbFields(data, func(f, w int, v uint64, d []byte) error {
				if w != 0 {
					return nil
				}
				switch f {
				case 3:
					m.modelType = int(v)
				case 40:
					m.unk = int(int32(v))
				case 41:
					m.bos = int(int32(v))
				case 42:
					m.eos = int(int32(v))
				case 43:
					m.pad = int(int32(v))
				}
				return nil
			})
		case 3:
			return pbFields(data, func(f, w int, v uint64, d []byte) error {
				if f == 3 && w == 0 {
					m.addDummyPrefix = v != 0
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: not a SentencePiece model: %w", path, err)
	}
	if len(m.pieces) == 0 {
		return nil, fmt.Errorf("%s: SentencePiece model has no pieces", path)
	}
	return m, nil
}

// pbFields walks the fields of a protobuf message. For varint and fixed
// fields v holds the value; for length-delimited ones data holds the bytes.
func pbFields(b []byte, fn func(field, wire int, v uint64, data []byte) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return fmt.Errorf("bad field key")
		}
		b = b[n:]
		field, wire := int(key>>3), int(key&7)
		var v uint64
		var data []byte
		switch wire {
		case 0:
			v, n = binary.Uvarint(b)
			if n <= 0 {
				return fmt.Errorf("field %d: bad varint", field)
			}
			b = b[n:]
		case 1:
			if len(b) < 8 {
				return fmt.Errorf("field %d: truncated", field)
			}
			v, b = binary.LittleEndian.Uint64(b), b[8:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return fmt.Errorf("field %d: bad length", field)
			}
			data, b = b[n:n+int(l)], b[n+int(l):]
		case 5:
			if len(b) < 4 {
				return fmt.Errorf("field %d: truncated", field)
			}
			v, b = uint64(binary.LittleEndian.Uint32(b)), b[4:]
		default:
			return fmt.Errorf("field %d: unsupported wire type %d", field, wire)
		}
		if err := fn(field, wire, v, data); err != nil {
			return err
		}
	}
	return nil
}
