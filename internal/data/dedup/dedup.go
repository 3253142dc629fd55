// Package dedup finds exact and near-duplicate texts in a stream.
//
// Exact duplicates are found by a 64-bit hash of the text (a collision
// between different texts has probability ~n²/2⁶⁵). Near duplicates are
// found with MinHash signatures over word 3-grams and locality-sensitive
// hashing: signatures are split into bands, texts sharing a band are
// candidates, and a candidate is a near duplicate when the signatures
// estimate a Jaccard similarity at or above the threshold. Only band hashes
// stay in memory; signatures are spilled to a temporary file and read back
// for candidates.
package dedup

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"os"

	"github.com/whetstone/whetstone/internal/data/words"
)

// Exact finds exact duplicates. The zero value is not usable; call
// NewExact.
type Exact struct {
	seen      table[uint64]
	spill     *spill
	spillFrom int32 // first row added after Spill, -1 before
	err       error // first spill write error, returned by Resolve
}

// NewExact returns an empty exact-duplicate index. Call Close when done.
func NewExact() *Exact { return &Exact{spillFrom: -1} }

// Close releases the index's memory.
func (e *Exact) Close() {
	e.seen.free()
	if e.spill != nil {
		e.spill.close()
	}
}

// Add records text as row and returns the first row with the same text, or
// -1.
func (e *Exact) Add(text string, row int) int { return e.AddHash(Hash(text), row) }

// AddHash is Add with the text's Hash computed by the caller.
func (e *Exact) AddHash(h uint64, row int) int {
	if e.spill != nil {
		if e.spillFrom < 0 {
			e.spillFrom = int32(row)
		}
		if h == 0 {
			h = 1
		}
		if err := e.spill.put(h, int32(row)); err != nil && e.err == nil {
			e.err = err
		}
		return -1
	}
	if first, found := e.seen.put(h, int32(row)); found {
		return int(first)
	}
	return -1
}

// hashSeed seeds Hash for the life of the process.
var hashSeed = maphash.MakeSeed()

// Hash is a 64-bit hash of s (hash/maphash: AES-based where available, so
// several GB/s). Values differ between processes; they are only compared
// within one run.
func Hash(s string) uint64 { return maphash.String(hashSeed, s) }

func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// MinHash computes signatures by one-permutation hashing with optimal
// densification (Shrivastava, ICML 2017): each shingle's hash picks one of
// the signature's bins and competes for its minimum, so a signature costs
// O(1) per shingle instead of O(bins); empty bins borrow a seeded choice of
// a filled bin. Estimates of Jaccard similarity match classic k-permutation
// MinHash in accuracy for texts with at least as many shingles as bins. It
// is safe for concurrent use.
type MinHash struct {
	bins int
	seed uint64
}

// NewMinHash returns a MinHash with the given number of bins (the
// signature length) and seed.
func NewMinHash(bins int, seed uint64) *MinHash {
	return &MinHash{bins: bins, seed: mix(seed ^ 0x9e3779b97f4a7c15)}
}

// Perms returns the signature length.
func (m *MinHash) Perms() int { return m.bins }

const emptyBin = math.MaxUint32

// Signature appends the signature of text to dst[:0], over the text's
// lowercased word 3-grams (the whole text when it has fewer than three
// words). Words are runs of ASCII letters and digits and non-ASCII bytes.
func (m *MinHash) Signature(text string, dst []uint32) []uint32 {
	var buf [256]uint64
	return m.SignatureWords(words.Hashes(text, buf[:0]), dst)
}

// SignatureWords is Signature over the word hashes of package words.
func (m *MinHash) SignatureWords(ws []uint64, dst []uint32) []uint32 {
	dst = dst[:0]
	for i := 0; i < m.bins; i++ {
		dst = append(dst, emptyBin)
	}
	if len(ws) == 0 {
		return dst
	}
	k := uint64(m.bins)
	mask := k - 1
	pow2 := k&mask == 0
	add := func(h uint64) {
		h = mix(h ^ m.seed)
		var b uint64
		if pow2 {
			b = h & mask
		} else {
			b = (h & 0xffffffff) % k
		}
		v := uint32(h >> 32)
		if v == emptyBin {
			v--
		}
		if v < dst[b] {
			dst[b] = v
		}
	}
	if len(ws) < 3 {
		var w [3]uint64
		copy(w[3-len(ws):], ws)
		add(w[0]*0x9e3779b97f4a7c15 ^ w[1]*0xc2b2ae3d27d4eb4f ^ w[2])
	} else {
		for i := 2; i < len(ws); i++ {
			add(ws[i-2]*0x9e3779b97f4a7c15 ^ ws[i-1]*0xc2b2ae3d27d4eb4f ^ ws[i])
		}
	}
	// Densify: an empty bin copies the first filled bin of a seeded
	// sequence of probes (the same sequence for every text).
	var arr [1024]bool
	if m.bins <= len(arr) {
		filled := arr[:m.bins]
		for i, v := range dst {
			filled[i] = v != emptyBin
		}
		for i := range dst {
			if filled[i] {
				continue
			}
			for a := uint64(1); ; a++ {
				j := mix(uint64(i)<<32^a^m.seed) % k
				if filled[j] {
					dst[i] = dst[j]
					break
				}
			}
		}
	}
	return dst
}

// Similarity estimates the Jaccard similarity of two signatures.
func Similarity(a, b []uint32) float64 {
	if len(a) == 0 || len(a) != len(b) {
		return 0
	}
	eq := 0
	for i := range a {
		if a[i] == b[i] {
			eq++
		}
	}
	return float64(eq) / float64(len(a))
}

// Bands returns the number of bands and rows per band for perms
// permutations that minimise the sum of false-positive and false-negative
// probability mass around threshold (as datasketch does).
func Bands(threshold float64, perms int) (bands, rows int) {
	best := math.Inf(1)
	bands, rows = 1, perms
	for b := 1; b <= perms; b++ {
		r := perms / b
		if r == 0 {
			break
		}
		p := func(s float64) float64 { return 1 - math.Pow(1-math.Pow(s, float64(r)), float64(b)) }
		fp := integrate(p, 0, threshold)
		fn := integrate(func(s float64) float64 { return 1 - p(s) }, threshold, 1)
		if e := fp + fn; e < best {
			best, bands, rows = e, b, r
		}
	}
	return bands, rows
}

func integrate(f func(float64) float64, a, b float64) float64 {
	const n = 200
	h := (b - a) / n
	s := 0.0
	for i := 0; i < n; i++ {
		s += f(a + (float64(i)+0.5)*h)
	}
	return s * h
}

// Near finds near duplicates with MinHash LSH. Call Close to remove its
// temporary file.
type Near struct {
	mh          *MinHash
	threshold   float64
	bands, rows int
	// buckets maps a band key (32 bits: a collision only costs a signature
	// comparison) to the first row in the bucket.
	buckets    table[uint32]
	file       *os.File
	w          *bufio.Writer
	n          int // signatures written
	sig, other []uint32
	buf        []byte
	spill      *spill
	spillFrom  int32 // first row added after Spill
}

// NewNear returns a near-duplicate index for the threshold (Jaccard, in
// (0,1]) with perms permutations (64 when 0), spilling signatures to a
// temporary file in dir ("" for the system default). Signatures have
// perms bins; bins over 1024 are not densified.
func NewNear(threshold float64, perms int, dir string) (*Near, error) {
	if threshold <= 0 || threshold > 1 {
		return nil, fmt.Errorf("near-duplicate threshold %v: want a value in (0, 1]", threshold)
	}
	if perms == 0 {
		perms = 64
	}
	f, err := os.CreateTemp(dir, "whet-minhash-*")
	if err != nil {
		return nil, fmt.Errorf("near duplicates: %w", err)
	}
	os.Remove(f.Name()) // unlinked: the space is freed on Close, even after a crash
	b, r := Bands(threshold, perms)
	return &Near{mh: NewMinHash(perms, 1), threshold: threshold, bands: b, rows: r,
		file: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

// Add records text as the next row (rows are numbered from 0 in the order
// of Add calls) and returns the earliest earlier row it nearly duplicates
// with its estimated similarity, or -1. Empty texts are never duplicates.
func (n *Near) Add(text string) (int, float64, error) {
	n.sig = n.mh.Signature(text, n.sig)
	return n.AddSignature(n.sig)
}

// MinHash returns the signature function, for computing signatures in
// parallel before AddSignature.
func (n *Near) MinHash() *MinHash { return n.mh }

// AddSignature is Add with the text's signature (from MinHash) computed by
// the caller. sig is not retained.
func (n *Near) AddSignature(sig []uint32) (int, float64, error) {
	row := n.n
	match, sim := -1, 0.0
	empty := len(sig) == 0 || sig[0] == math.MaxUint32
	if !empty {
		for b := 0; b < n.bands; b++ {
			key := uint64(b+1) * 0x9e3779b97f4a7c15
			for _, v := range sig[b*n.rows : (b+1)*n.rows] {
				key = mix(key ^ uint64(v))
			}
			if n.spill != nil {
				if err := n.spill.put(uint64(uint32(key^key>>32)), int32(row)); err != nil {
					return -1, 0, err
				}
				continue
			}
			first, found := n.buckets.put(uint32(key^key>>32), int32(row))
			if !found {
				continue
			}
			if match >= 0 && int(first) >= match {
				continue
			}
			other, err := n.read(int(first))
			if err != nil {
				return -1, 0, err
			}
			if s := Similarity(sig, other); s >= n.threshold {
				match, sim = int(first), s
			}
		}
	}
	if err := n.write(sig); err != nil {
		return -1, 0, err
	}
	return match, sim, nil
}

func (n *Near) write(sig []uint32) error {
	n.buf = n.buf[:0]
	for _, v := range sig {
		n.buf = binary.LittleEndian.AppendUint32(n.buf, v)
	}
	_, err := n.w.Write(n.buf)
	n.n++
	return err
}

func (n *Near) read(row int) ([]uint32, error) {
	if err := n.w.Flush(); err != nil {
		return nil, err
	}
	size := 4 * n.mh.Perms()
	if cap(n.buf) < size {
		n.buf = make([]byte, size)
	}
	b := n.buf[:size]
	if _, err := n.file.ReadAt(b, int64(row)*int64(size)); err != nil {
		return nil, fmt.Errorf("read signature %d: %w", row, err)
	}
	n.other = n.other[:0]
	for i := 0; i < len(b); i += 4 {
		n.other = append(n.other, binary.LittleEndian.Uint32(b[i:]))
	}
	return n.other, nil
}

// Params returns the bands and rows per band in use.
func (n *Near) Params() (bands, rows int) { return n.bands, n.rows }

// Close removes the temporary file and releases the index's memory.
func (n *Near) Close() error {
	n.buckets.free()
	if n.spill != nil {
		n.spill.close()
	}
	return n.file.Close()
}
