package dedup

import "unsafe"

// table maps hash keys (uint64 or uint32) to 32-bit values with open
// addressing and linear probing. It is split into 256 shards that grow
// independently, so growing never holds two copies of the whole table,
// and its arrays live outside the Go heap (anonymous mmap where
// available), so they do not raise the garbage collector's heap target:
// the process's RSS is the live heap plus what the table uses. Key 0 is
// stored as 1 (keys are hashes). Call free when done.
type table[K uint32 | uint64] struct {
	shards [256]shard[K]
	bytes  int // memory held by the shards' arrays
}

type shard[K uint32 | uint64] struct {
	keys []K
	vals []int32
	n    int
}

func (t *table[K]) shard(k K) (*shard[K], uint64) {
	h := mix(uint64(k))
	return &t.shards[h>>56], h
}

// put sets k to v if k is absent, and returns the value now stored and
// whether k was present.
func (t *table[K]) put(k K, v int32) (int32, bool) {
	if k == 0 {
		k = 1
	}
	s, h := t.shard(k)
	if 4*(s.n+1) > 3*len(s.keys) {
		var k0 K
		t.bytes -= len(s.keys) * (int(unsafe.Sizeof(k0)) + 4)
		s.grow()
		t.bytes += len(s.keys) * (int(unsafe.Sizeof(k0)) + 4)
	}
	mask := uint64(len(s.keys) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.keys[i] {
		case k:
			return s.vals[i], true
		case 0:
			s.keys[i], s.vals[i] = k, v
			s.n++
			return v, false
		}
	}
}

func (s *shard[K]) grow() {
	old, oldVals := s.keys, s.vals
	size := max(64, 2*len(old))
	s.keys, s.vals, s.n = alloc[K](size), alloc[int32](size), 0
	for i, k := range old {
		if k != 0 {
			h := mix(uint64(k))
			mask := uint64(size - 1)
			j := h & mask
			for s.keys[j] != 0 {
				j = (j + 1) & mask
			}
			s.keys[j], s.vals[j] = k, oldVals[i]
			s.n++
		}
	}
	release(old)
	release(oldVals)
}

// free releases the table's memory.
func (t *table[K]) free() {
	for i := range t.shards {
		release(t.shards[i].keys)
		release(t.shards[i].vals)
		t.shards[i] = shard[K]{}
	}
	t.bytes = 0
}

// alloc returns a zeroed slice of n values, outside the Go heap when
// possible. T must hold no pointers.
func alloc[T any](n int) []T {
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	if b := mapAnon(size); b != nil {
		return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
	}
	return make([]T, n)
}

// release returns memory from alloc (a no-op for heap slices, which the
// collector frees).
func release[T any](s []T) {
	if len(s) == 0 {
		return
	}
	var zero T
	size := len(s) * int(unsafe.Sizeof(zero))
	unmapAnon(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), size))
}
