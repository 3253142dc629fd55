// Package words splits text into hashed words, shared by the near-duplicate
// (MinHash) and repetition checks so a text is scanned once for both.
package words

// Offset is the FNV-1a offset basis every word hash starts from.
const Offset = 14695981039346656037

// Hashes appends to dst the FNV-1a hash of each word of s, lowercased.
// Words are runs of ASCII letters and digits and non-ASCII bytes.
func Hashes(s string, dst []uint64) []uint64 {
	cur := uint64(Offset)
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z') {
			if c >= 'A' && c <= 'Z' {
				c |= 0x20
			}
			cur = (cur ^ uint64(c)) * 1099511628211
			in = true
		} else if in {
			dst = append(dst, cur)
			cur = Offset
			in = false
		}
	}
	if in {
		dst = append(dst, cur)
	}
	return dst
}
