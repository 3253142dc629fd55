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
	bins    int
	shingle int
	seed    uint64
}

// Defaults for near-duplicate detection; docs/data.md ("Near duplicates:
// recall and precision") has the measurements behind them.
const (
	// DefaultPerms is the signature length: 128 bins (datasketch's
	// default) keep the estimate's standard error at 0.9 near 0.027.
	DefaultPerms = 128
	// DefaultShingle is the word n-gram size.
	DefaultShingle = 3
	// DefaultThreshold is the Jaccard similarity at which rows count as
	// near duplicates.
	DefaultThreshold = 0.8
	// MinRecall is the probability with which a pair exactly at the
	// threshold is reported: LSH and verification each get its square
	// root.
	MinRecall = 0.95
)

// NewMinHash returns a MinHash with the given number of bins (the
// signature length) and seed, over word DefaultShingle-grams.
func NewMinHash(bins int, seed uint64) *MinHash { return NewMinHashShingle(bins, DefaultShingle, seed) }

// NewMinHashShingle is NewMinHash over word n-grams of shingle words.
func NewMinHashShingle(bins, shingle int, seed uint64) *MinHash {
	if shingle < 1 {
		shingle = DefaultShingle
	}
	return &MinHash{bins: bins, shingle: shingle, seed: mix(seed ^ 0x9e3779b97f4a7c15)}
}

// Shingles appends to dst the hash of each n-gram of n word hashes (from
// package words) of ws, or of the whole of ws when it has fewer than n
// words.
func Shingles(ws []uint64, n int, dst []uint64) []uint64 {
	if len(ws) == 0 {
		return dst
	}
	if len(ws) < n {
		n = len(ws)
	}
	for i := 0; i+n <= len(ws); i++ {
		dst = append(dst, shingle(ws[i:i+n]))
	}
	return dst
}

func shingle(ws []uint64) uint64 {
	h := uint64(len(ws))
	for _, w := range ws {
		h = (h ^ w) * 0x9e3779b97f4a7c15
		h ^= h >> 31
	}
	return h
}

// Perms returns the signature length.
func (m *MinHash) Perms() int { return m.bins }

const emptyBin = math.MaxUint32

// Signature appends the signature of text to dst[:0], over the text's
// lowercased word n-grams (the whole text when it has fewer words). Words are runs of ASCII letters and digits and non-ASCII bytes.
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
	n := m.shingle
	if len(ws) < n {
		n = len(ws)
	}
	for i := 0; i+n <= len(ws); i++ {
		add(shingle(ws[i : i+n]))
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
// permutations the way datasketch derives them: the pair (bands × rows ≤
// perms) that minimises the weighted false-positive plus false-negative
// probability mass around threshold, here among the pairs whose S-curve
// 1-(1-t^r)^b finds a pair at the threshold with probability at least
// √MinRecall (the other factor goes to verification, see Cutoff). When no
// pair reaches it, the one with the highest probability at the threshold.
func Bands(threshold float64, perms int) (bands, rows int) {
	want := math.Sqrt(MinRecall)
	best, bestP := math.Inf(1), -1.0
	bands, rows = 1, perms
	for r := 1; r <= perms; r++ {
		b := perms / r
		p := func(s float64) float64 { return 1 - math.Pow(1-math.Pow(s, float64(r)), float64(b)) }
		pt := p(threshold)
		if pt < want {
			if bestP < want && pt > bestP {
				bestP, bands, rows = pt, b, r
			}
			continue
		}
		fp := integrate(p, 0, threshold)
		fn := integrate(func(s float64) float64 { return 1 - p(s) }, threshold, 1)
		if e := 0.5*fp + 0.5*fn; bestP < want || e < best {
			best, bestP, bands, rows = e, pt, b, r
		}
	}
	return bands, rows
}

// Recall returns the probability that LSH with bands × rows makes a pair of
// Jaccard similarity s a candidate.
func Recall(s float64, bands, rows int) float64 {
	return 1 - math.Pow(1-math.Pow(s, float64(rows)), float64(bands))
}

// Cutoff returns the estimated similarity a candidate must reach: the
// threshold less z standard errors of a perms-bin estimate at the
// threshold, z chosen so a pair exactly at the threshold passes with
// probability √MinRecall (normal approximation of the binomial count of
// equal bins).
func Cutoff(threshold float64, perms int) float64 {
	const z = 1.955 // one-sided normal quantile of √0.95 = 0.9747
	c := threshold - z*math.Sqrt(threshold*(1-threshold)/float64(perms))
	// Round down to a whole number of equal bins.
	return math.Floor(c*float64(perms)) / float64(perms)
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
	cutoff      float64 // verification: estimated similarity at least this
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
// (0,1]) with perms permutations (DefaultPerms when 0) over word
// DefaultShingle-grams, spilling signatures to a temporary file in dir (""
// for the system default). Signatures have perms bins; bins over 1024 are
// not densified.
func NewNear(threshold float64, perms int, dir string) (*Near, error) {
	return NewNearShingle(threshold, perms, DefaultShingle, dir)
}

// NewNearShingle is NewNear over word n-grams of shingle words.
func NewNearShingle(threshold float64, perms, shingle int, dir string) (*Near, error) {
	if threshold <= 0 || threshold > 1 {
		return nil, fmt.Errorf("near-duplicate threshold %v: want a value in (0, 1]", threshold)
	}
	if perms == 0 {
		perms = DefaultPerms
	}
	f, err := os.CreateTemp(dir, "whet-minhash-*")
	if err != nil {
		return nil, fmt.Errorf("near duplicates: %w", err)
	}
	os.Remove(f.Name()) // unlinked: the space is freed on Close, even after a crash
	b, r := Bands(threshold, perms)
	return &Near{mh: NewMinHashShingle(perms, shingle, 1), threshold: threshold, cutoff: Cutoff(threshold, perms), bands: b, rows: r,
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
			if s := Similarity(sig, other); s >= n.cutoff {
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

// Settings describes the index for reports: bins, shingle, bands, rows per
// band, the verification cutoff and the probability that a pair exactly at
// the threshold is found.
func (n *Near) Settings() map[string]any {
	return map[string]any{"bins": n.mh.bins, "shingle_words": n.mh.shingle, "bands": n.bands, "rows_per_band": n.rows,
		"verify_cutoff": n.cutoff, "recall_at_threshold": math.Round(1000*Recall(n.threshold, n.bands, n.rows)*verifyPass(n.threshold, n.cutoff, n.mh.bins)) / 1000}
}

// verifyPass is the probability that a perms-bin estimate of a pair of
// similarity s reaches cutoff (exact binomial tail).
func verifyPass(s, cutoff float64, perms int) float64 {
	if s >= 1 {
		return 1
	}
	k := int(math.Ceil(cutoff*float64(perms) - 1e-9))
	p := 0.0
	for i := k; i <= perms; i++ {
		lg, _ := math.Lgamma(float64(perms + 1))
		l1, _ := math.Lgamma(float64(i + 1))
		l2, _ := math.Lgamma(float64(perms - i + 1))
		p += math.Exp(lg - l1 - l2 + float64(i)*math.Log(s) + float64(perms-i)*math.Log1p(-s))
	}
	return p
}

// Close removes the temporary file and releases the index's memory.
func (n *Near) Close() error {
	n.buckets.free()
	if n.spill != nil {
		n.spill.close()
	}
	return n.file.Close()
}
