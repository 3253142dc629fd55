package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// naiveGemm is the reference: a float64 triple loop over the definition.
func naiveGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			old := float64(0)
			if beta != 0 {
				old = float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(float64(alpha)*s + old)
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	pad            int // extra elements per row (stride > width)
	alpha, beta    float32
}

func gemmCases() []gemmCase {
	var cases []gemmCase
	shapes := [][3]int{{1, 1, 1}, {1, 300, 70}, {70, 1, 300}, {1, 2000, 600}, {2000, 1, 600}, {3, 5, 7}, {4, 4, 4}, {17, 9, 33}, {65, 130, 257}, {129, 3, 300}, {2, 1030, 5}, {200, 70, 513}}
	for _, s := range shapes {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				cases = append(cases,
					gemmCase{ta, tb, s[0], s[1], s[2], 0, 1, 0},
					gemmCase{ta, tb, s[0], s[1], s[2], 3, -0.5, 1.5},
				)
			}
		}
	}
	return cases
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,%dx%dx%d,pad=%d,alpha=%g,beta=%g", tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.pad, tc.alpha, tc.beta)
}

// checkSgemm runs gemm on tc's random inputs and compares with naiveGemm to
// a relative tolerance tol (relative to the sum of |terms|).
func checkSgemm(t *testing.T, gemm gemmFunc, tc gemmCase, tol float64) {
	t.Helper()
	checkSgemmInputs(t, gemm, tc, tol, nil)
}

// checkSgemmInputs is checkSgemm with the reference computed on
// prepare(copy of A), prepare(copy of B) when prepare is not nil.
func checkSgemmInputs(t *testing.T, gemm gemmFunc, tc gemmCase, tol float64, prepare func([]float32)) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(tc.m), uint64(tc.n*1000+tc.k)))
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc := ac+tc.pad, bc+tc.pad, tc.n+tc.pad
	a := randSlice(rng, ar*lda)
	b := randSlice(rng, br*ldb)
	c0 := randSlice(rng, tc.m*ldc)
	if tc.beta == 0 {
		for i := range c0 {
			c0[i] = float32(math.NaN()) // must be overwritten, not scaled
		}
	}
	want := append([]float32(nil), c0...)
	got := append([]float32(nil), c0...)
	ra, rb := a, b
	if prepare != nil {
		ra = append([]float32(nil), a...)
		rb = append([]float32(nil), b...)
		prepare(ra)
		prepare(rb)
	}
	naiveGemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, ra, lda, rb, ldb, tc.beta, want, ldc)
	gemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
	// Each |term| is below 1, so k+1 bounds the magnitude of the sum.
	scale := float64(tc.k) + 1
	for i := 0; i < tc.m; i++ {
		for j := 0; j < ldc; j++ {
			idx := i*ldc + j
			if j >= tc.n {
				if math.Float32bits(got[idx]) != math.Float32bits(c0[idx]) {
					t.Fatalf("C[%d,%d] in the stride padding changed: %v -> %v", i, j, c0[idx], got[idx])
				}
				continue
			}
			if d := math.Abs(float64(got[idx] - want[idx])); !(d <= tol*scale) {
				t.Fatalf("C[%d,%d] = %v, want %v (diff %g > %g)", i, j, got[idx], want[idx], d, tol*scale)
			}
		}
	}
}

func TestSgemmGo(t *testing.T) {
	t.Parallel()
	for _, tc := range gemmCases() {
		t.Run(tc.String(), func(t *testing.T) {
			t.Parallel()
			checkSgemm(t, SgemmGo, tc, 1e-6)
		})
	}
}

func TestSgemm(t *testing.T) {
	t.Parallel()
	for _, tc := range gemmCases() {
		t.Run(tc.String(), func(t *testing.T) {
			t.Parallel()
			checkSgemm(t, Sgemm, tc, 1e-6)
		})
	}
}

func TestSgemmEmpty(t *testing.T) {
	t.Parallel()
	c := []float32{1, 2, 3, 4}
	// k == 0: C = beta·C.
	Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0.5, c, 2)
	if want := []float32{0.5, 1, 1.5, 2}; fmt.Sprint(c) != fmt.Sprint(want) {
		t.Fatalf("k=0: got %v, want %v", c, want)
	}
	Sgemm(false, false, 0, 0, 5, 1, nil, 5, nil, 1, 0, nil, 1)
}

func TestSgemmPanicsOnShortSlice(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a too-short A")
		}
	}()
	SgemmGo(false, false, 4, 4, 4, 1, make([]float32, 15), 4, make([]float32, 16), 4, 0, make([]float32, 16), 4)
}

func TestParallel(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 2, 3, 7, 100, 1001} {
		seen := make([]int32, n)
		Parallel(n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				seen[i]++
			}
		})
		for i, v := range seen {
			if v != 1 {
				t.Fatalf("n=%d: index %d visited %d times", n, i, v)
			}
		}
	}
}

func TestMeasure(t *testing.T) {
	t.Parallel()
	for _, p := range []Precision{F32, BF16} {
		if g := Measure(p, 64, 64, 64, time.Millisecond); !(g > 0) {
			t.Errorf("Measure(%v) = %v GFLOP/s", p, g)
		}
	}
}

func TestParallelNested(t *testing.T) {
	const outer, inner = 8, 1000
	var seen [outer * inner]int32
	Parallel(outer, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			Parallel(inner, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					seen[o*inner+i]++
				}
			})
		}
	})
	for i, v := range seen {
		if v != 1 {
			t.Fatalf("index %d visited %d times", i, v)
		}
	}
	if b := busy.Load(); b != 0 {
		t.Fatalf("busy = %d after all Parallel calls returned", b)
	}
}
