//go:build cgo && !noblas

package blas

import (
	"math/rand/v2"
	"testing"
)

// TestDNNLCacheEviction runs more distinct shapes than the primitive cache
// holds, from several goroutines, and checks every result, so evicting a
// primitive while another call runs it would show up (as a crash or a
// wrong product).
func TestDNNLCacheEviction(t *testing.T) {
	if err := DNNLError(); err != nil {
		t.Skip(err)
	}
	t.Parallel()
	const k, n = 40, 24
	rng := rand.New(rand.NewPCG(9, 9))
	b := randSlice(rng, k*n)
	bb := make([]uint16, len(b))
	F32ToBF16(bb, b)
	RoundBF16(b)
	shapes := maxCachedPrimitives + 40
	Parallel(shapes, func(lo, hi int) {
		for m := lo + 1; m <= hi; m++ {
			for rep := 0; rep < 2; rep++ {
				a := randSlice(rand.New(rand.NewPCG(uint64(m), 1)), m*k)
				ab := make([]uint16, len(a))
				F32ToBF16(ab, a)
				RoundBF16(a)
				got := make([]float32, m*n)
				want := make([]float32, m*n)
				GemmBF16(false, false, m, n, k, 1, ab, k, bb, n, 0, got, n)
				naiveGemm(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
				for i := range got {
					if d := got[i] - want[i]; d > 1e-4 || d < -1e-4 {
						t.Errorf("m=%d: C[%d] = %v, want %v", m, i, got[i], want[i])
						return
					}
				}
			}
		}
	})
	dnnl.mu.Lock()
	defer dnnl.mu.Unlock()
	if len(dnnl.cache) > maxCachedPrimitives {
		t.Errorf("cache holds %d primitives, limit %d", len(dnnl.cache), maxCachedPrimitives)
	}
}
