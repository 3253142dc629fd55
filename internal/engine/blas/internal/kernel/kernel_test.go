package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSgemm4x16(t *testing.T) {
	t.Logf("assembly: %v", Accelerated())
	for _, kc := range []int{1, 2, 7, 64, 257} {
		rng := rand.New(rand.NewPCG(uint64(kc), 5))
		a := make([]float32, MR*kc)
		b := make([]float32, NR*kc)
		for i := range a {
			a[i] = rng.Float32()*2 - 1
		}
		for i := range b {
			b[i] = rng.Float32()*2 - 1
		}
		const ldc = NR + 3
		c := make([]float32, 3*ldc+NR+3) // padding after the tile must stay
		for i := range c {
			c[i] = float32(i)
		}
		orig := append([]float32(nil), c...)
		goC := append([]float32(nil), c...)
		Sgemm4x16(kc, a, b, c, ldc)
		sgemm4x16Go(kc, a, b, goC, ldc)
		for i := range c {
			r, j := i/ldc, i%ldc
			if r > 3 || j >= NR {
				if c[i] != orig[i] {
					t.Fatalf("kc=%d: c[%d] outside the tile changed", kc, i)
				}
				continue
			}
			var want float64 = float64(orig[i])
			for p := 0; p < kc; p++ {
				want += float64(a[p*MR+r]) * float64(b[p*NR+j])
			}
			if math.Abs(float64(c[i])-want) > 1e-5*float64(kc+1) || math.Abs(float64(goC[i])-want) > 1e-5*float64(kc+1) {
				t.Fatalf("kc=%d: C[%d][%d] = %v (Go %v), want %v", kc, r, j, c[i], goC[i], want)
			}
		}
	}
}
