package dedup

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
)

// DefaultBudget is the memory, in bytes, that a caller's duplicate indexes
// may hold in RAM before they spill to temporary files (see Exact.Spill and
// Near.Spill).
const DefaultBudget = 96 << 20

// spillParts is the number of partitions a spilled index writes; each is
// resolved alone, so resolution holds 1/spillParts of the records.
const spillParts = 64

// spill holds (key, value) records partitioned by key bits in unlinked
// temporary files.
type spill struct {
	keyBytes int
	files    [spillParts]*os.File
	ws       [spillParts]*bufio.Writer
	buf      [12]byte
}

func newSpill(dir string, keyBytes int) (*spill, error) {
	s := &spill{keyBytes: keyBytes}
	for i := range s.files {
		f, err := os.CreateTemp(dir, "whet-dedup-*")
		if err != nil {
			s.close()
			return nil, fmt.Errorf("spill duplicate index: %w", err)
		}
		os.Remove(f.Name()) // unlinked: freed on close, even after a crash
		s.files[i], s.ws[i] = f, bufio.NewWriterSize(f, 16<<10)
	}
	return s, nil
}

func (s *spill) put(k uint64, v int32) error {
	p := mix(k) >> 58 // top 6 bits: spillParts partitions
	n := s.keyBytes
	if n == 8 {
		binary.LittleEndian.PutUint64(s.buf[:], k)
	} else {
		binary.LittleEndian.PutUint32(s.buf[:], uint32(k))
	}
	binary.LittleEndian.PutUint32(s.buf[n:], uint32(v))
	_, err := s.ws[p].Write(s.buf[:n+4])
	return err
}

type kv struct {
	k uint64
	v int32
}

// groups calls fn with each key's first (smallest) value and each later
// value, partition by partition.
func (s *spill) groups(fn func(first, v int32)) error {
	var recs []kv
	n := s.keyBytes
	for i, f := range s.files {
		if err := s.ws[i].Flush(); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		r := bufio.NewReaderSize(f, 64<<10)
		recs = recs[:0]
		var b [12]byte
		for {
			if _, err := io.ReadFull(r, b[:n+4]); err == io.EOF {
				break
			} else if err != nil {
				return fmt.Errorf("read spilled duplicate index: %w", err)
			}
			var k uint64
			if n == 8 {
				k = binary.LittleEndian.Uint64(b[:])
			} else {
				k = uint64(binary.LittleEndian.Uint32(b[:]))
			}
			recs = append(recs, kv{k, int32(binary.LittleEndian.Uint32(b[n:]))})
		}
		slices.SortFunc(recs, func(a, b kv) int {
			if a.k != b.k {
				if a.k < b.k {
					return -1
				}
				return 1
			}
			return int(a.v) - int(b.v)
		})
		for j := 0; j < len(recs); {
			e := j + 1
			for e < len(recs) && recs[e].k == recs[j].k {
				e++
			}
			for x := j + 1; x < e; x++ {
				if recs[x].v != recs[j].v {
					fn(recs[j].v, recs[x].v)
				}
			}
			j = e
		}
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			return err
		}
	}
	return nil
}

func (s *spill) close() {
	for _, f := range s.files {
		if f != nil {
			f.Close()
		}
	}
}

// dump writes every entry of t to s.
func dump[K uint32 | uint64](t *table[K], s *spill) error {
	for i := range t.shards {
		sh := &t.shards[i]
		for j, k := range sh.keys {
			if k != 0 {
				if err := s.put(uint64(k), sh.vals[j]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Bytes returns the memory the index holds (0 once spilled).
func (e *Exact) Bytes() int { return e.seen.bytes }

// Spilled reports whether Spill was called.
func (e *Exact) Spilled() bool { return e.spill != nil }

// Spill moves the index to temporary files in dir ("" for the system
// default) and frees its memory. From then on Add and AddHash return -1
// and record the row; Resolve reports the duplicates among rows added
// since, exactly as Add would have.
func (e *Exact) Spill(dir string) error {
	if e.spill != nil {
		return nil
	}
	s, err := newSpill(dir, 8)
	if err != nil {
		return err
	}
	if err := dump(&e.seen, s); err != nil {
		s.close()
		return fmt.Errorf("spill duplicate index: %w", err)
	}
	e.seen.free()
	e.spill = s
	return nil
}

// Resolve calls fn, in increasing row order, for each row added after
// Spill that duplicates an earlier row, with the first row of its text.
// Call it once, after the last Add.
func (e *Exact) Resolve(fn func(row, first int)) error {
	if e.spill == nil || e.spillFrom < 0 {
		return nil
	}
	if e.err != nil {
		return e.err
	}
	var res []kv // (row, first)
	if err := e.spill.groups(func(first, v int32) {
		if v >= e.spillFrom {
			res = append(res, kv{uint64(v), first})
		}
	}); err != nil {
		return err
	}
	slices.SortFunc(res, func(a, b kv) int { return int(a.k) - int(b.k) })
	for _, r := range res {
		fn(int(r.k), int(r.v))
	}
	return nil
}

// Bytes returns the memory the index holds (0 once spilled).
func (n *Near) Bytes() int { return n.buckets.bytes }

// Spilled reports whether Spill was called.
func (n *Near) Spilled() bool { return n.spill != nil }

// Spill moves the band index to temporary files in dir ("" for the system
// default) and frees its memory. From then on Add and AddSignature return
// -1 and record the row; Resolve reports the near duplicates among rows
// added since, exactly as Add would have.
func (n *Near) Spill(dir string) error {
	if n.spill != nil {
		return nil
	}
	s, err := newSpill(dir, 4)
	if err != nil {
		return err
	}
	if err := dump(&n.buckets, s); err != nil {
		s.close()
		return fmt.Errorf("spill near-duplicate index: %w", err)
	}
	n.buckets.free()
	n.spill, n.spillFrom = s, int32(n.n)
	return nil
}

// Resolve calls fn, in increasing row order, for each row added after
// Spill that nearly duplicates an earlier row, with that row and the
// estimated similarity: the same answers Add gives without spilling. Call
// it once, after the last Add.
func (n *Near) Resolve(fn func(row, first int, sim float64)) error {
	if n.spill == nil {
		return nil
	}
	var cand []kv // (row, first)
	if err := n.spill.groups(func(first, v int32) {
		if v >= n.spillFrom {
			cand = append(cand, kv{uint64(v), first})
		}
	}); err != nil {
		return err
	}
	slices.SortFunc(cand, func(a, b kv) int {
		if a.k != b.k {
			return int(a.k) - int(b.k)
		}
		return int(a.v) - int(b.v)
	})
	var sig []uint32
	for i := 0; i < len(cand); {
		row := cand[i].k
		s, err := n.read(int(row))
		if err != nil {
			return err
		}
		sig = append(sig[:0], s...)
		done := false
		for ; i < len(cand) && cand[i].k == row; i++ {
			if done || (i > 0 && cand[i-1].k == row && cand[i-1].v == cand[i].v) {
				continue
			}
			other, err := n.read(int(cand[i].v))
			if err != nil {
				return err
			}
			if s := Similarity(sig, other); s >= n.cutoff {
				fn(int(row), int(cand[i].v), s)
				done = true
			}
		}
	}
	return nil
}
