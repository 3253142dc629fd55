package tokenizer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// charsmap is a SentencePiece precompiled normalization map: a Darts double-array trie from input byte
// strings to offsets of NUL-terminated replacements (normalizer.cc, darts.h).
type charsmap struct {
	units []uint32
	norm  []byte
}

func parseCharsmap(b []byte) (*charsmap, error) {
	if len(b) < 4 {
		return nil, errors.New("shorter than its 4-byte header")
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) || n%4 != 0 {
		return nil, fmt.Errorf("trie size %d does not fit in %d bytes", n, len(b)-4)
	}
	units := make([]uint32, n/4)
	for i := range units {
		units[i] = binary.LittleEndian.Uint32(b[4+4*i:])
	}
	if len(units) == 0 {
		return nil, errors.New("empty trie")
	}
	return &charsmap{units: units, norm: b[4+n:]}, nil
}

// lookup returns the replacement of the longest prefix of in found in the map.
func (c *charsmap) lookup(in string) (string, int, bool) {
	offset := func(u uint32) uint32 { return (u >> 10) << ((u & (1 << 9)) >> 6) }
	pos := uint32(0)
	pos ^= offset(c.units[0])
	bestLen, bestVal := 0, -1
	for i := 0; i < len(in); i++ {
		pos ^= uint32(in[i])
		if int(pos) >= len(c.units) {
			break
		}
		u := c.units[pos]
		if u&((1<<31)|0xFF) != uint32(in[i]) {
			break
		}
		pos ^= offset(u)
		if (u>>8)&1 == 1 {
			if int(pos) >= len(c.units) {
				break
			}
			bestLen, bestVal = i+1, int(c.units[pos]&((1<<31)-1))
		}
	}
	if bestVal < 0 || bestVal >= len(c.norm) {
		return "", 0, false
	}
	end := bestVal
	for end < len(c.norm) && c.norm[end] != 0 {
		end++
	}
	out := string(c.norm[bestVal:end])
	if !utf8.ValidString(out) {
		return "", 0, false
	}
	return out, bestLen, true
}
