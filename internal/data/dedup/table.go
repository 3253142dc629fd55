package dedup

// table maps 64-bit keys to 32-bit values with open addressing and linear
// probing: 12 bytes per slot, at most 3/4 full, so 16-24 bytes per entry
// (a Go map takes 40 or more). Key 0 is stored as 1: keys are hashes, so
// the merge costs nothing measurable.
type table struct {
	keys []uint64
	vals []int32
	n    int
}

func (t *table) get(k uint64) (int32, bool) {
	if k == 0 {
		k = 1
	}
	if len(t.keys) == 0 {
		return 0, false
	}
	mask := uint64(len(t.keys) - 1)
	for i := mix(k) & mask; ; i = (i + 1) & mask {
		switch t.keys[i] {
		case k:
			return t.vals[i], true
		case 0:
			return 0, false
		}
	}
}

// put sets k to v if k is absent, and returns the value now stored.
func (t *table) put(k uint64, v int32) (int32, bool) {
	if k == 0 {
		k = 1
	}
	if 4*(t.n+1) > 3*len(t.keys) {
		t.grow()
	}
	mask := uint64(len(t.keys) - 1)
	for i := mix(k) & mask; ; i = (i + 1) & mask {
		switch t.keys[i] {
		case k:
			return t.vals[i], true
		case 0:
			t.keys[i], t.vals[i] = k, v
			t.n++
			return v, false
		}
	}
}

func (t *table) grow() {
	old, oldVals := t.keys, t.vals
	size := max(1024, 2*len(old))
	t.keys, t.vals, t.n = make([]uint64, size), make([]int32, size), 0
	for i, k := range old {
		if k != 0 {
			t.put(k, oldVals[i])
		}
	}
}
