package blas

import (
	"math"
	"testing"
)

func TestF32ToBF16(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   uint32 // float32 bits
		want uint16
	}{
		{"one", 0x3f800000, 0x3f80},
		{"tie to even (down)", 0x3f808000, 0x3f80},
		{"tie to even (up)", 0x3f818000, 0x3f82},
		{"above tie", 0x3f808001, 0x3f81},
		{"below tie", 0x3f807fff, 0x3f80},
		{"negative", 0xbfc0c000, 0xbfc1},
		{"max float rounds to inf", 0x7f7fffff, 0x7f80},
		{"inf", 0x7f800000, 0x7f80},
		{"-inf", 0xff800000, 0xff80},
		{"subnormal", 0x00018000, 0x0002},
		{"-0", 0x80000000, 0x8000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]uint16, 1)
			F32ToBF16(dst, []float32{math.Float32frombits(tc.in)})
			if dst[0] != tc.want {
				t.Errorf("F32ToBF16(%#08x) = %#04x, want %#04x", tc.in, dst[0], tc.want)
			}
		})
	}
	// NaN payloads in the low half must not round to Inf.
	dst := make([]uint16, 1)
	F32ToBF16(dst, []float32{math.Float32frombits(0x7f800001)})
	if f := math.Float32frombits(uint32(dst[0]) << 16); !math.IsNaN(float64(f)) {
		t.Errorf("NaN converted to %v", f)
	}
}

func TestBF16RoundTrip(t *testing.T) {
	t.Parallel()
	src := make([]float32, 100000) // long enough to run in parallel
	for i := range src {
		src[i] = float32(i)*0.37 - 1000
	}
	b := make([]uint16, len(src))
	F32ToBF16(b, src)
	back := make([]float32, len(src))
	BF16ToF32(back, b)
	rounded := append([]float32(nil), src...)
	RoundBF16(rounded)
	for i := range src {
		if back[i] != rounded[i] {
			t.Fatalf("element %d: BF16ToF32(F32ToBF16) = %v, RoundBF16 = %v", i, back[i], rounded[i])
		}
		if d := math.Abs(float64(back[i] - src[i])); d > math.Abs(float64(src[i]))/256 {
			t.Fatalf("element %d: %v rounded to %v", i, src[i], back[i])
		}
	}
}

func TestGemmBF16(t *testing.T) {
	t.Parallel()
	t.Logf("bf16 backend: %s", BF16Name())
	// On bf16-exact inputs, the bf16 GEMM must match the float64 reference to
	// float32 summation accuracy.
	viaBF16 := func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		ab := make([]uint16, len(a))
		bb := make([]uint16, len(b))
		F32ToBF16(ab, a)
		F32ToBF16(bb, b)
		GemmBF16(transA, transB, m, n, k, alpha, ab, lda, bb, ldb, beta, c, ldc)
	}
	for _, tc := range gemmCases() {
		t.Run(tc.String(), func(t *testing.T) {
			t.Parallel()
			checkSgemmInputs(t, viaBF16, tc, 1e-6, RoundBF16)
		})
	}
}

func TestSgemmBF16(t *testing.T) {
	t.Parallel()
	withW := func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		bb := make([]uint16, len(b))
		F32ToBF16(bb, b)
		SgemmBF16W(transA, transB, m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc)
	}
	for _, tc := range gemmCases() {
		t.Run(tc.String(), func(t *testing.T) {
			t.Parallel()
			// Against the float32 inputs: each product has a relative error
			// below 2·2⁻⁹ + 2⁻¹⁸ < 2⁻⁸, so the sum is off by at most 2⁻⁸·Σ|aᵢbᵢ|.
			checkSgemm(t, SgemmBF16, tc, 1.0/256)
			checkSgemm(t, withW, tc, 1.0/256)
			// Against bf16-rounded inputs: float32 summation accuracy.
			checkSgemmInputs(t, SgemmBF16, tc, 1e-6, RoundBF16)
			checkSgemmInputs(t, withW, tc, 1e-6, RoundBF16)
		})
	}
}

// TestF32ToBF16Rows checks the strided-rows conversion against F32ToBF16
// row by row (edge values included), and that it leaves the gaps alone.
func TestF32ToBF16Rows(t *testing.T) {
	t.Parallel()
	edge := []uint32{0x3f808000, 0x3f818000, 0x7f7fffff, 0x7f800000, 0xff800000, 0x00018000, 0x80000000, 0x7f800001, 0xffc00000}
	const rows, w, ld = 37, 21, 50
	src := make([]float32, (rows-1)*ld+w)
	for i := range src {
		src[i] = float32(i%97)*0.731 - 30
	}
	for i, e := range edge {
		src[i*ld+i%w] = math.Float32frombits(e)
	}
	dst := make([]uint16, rows*w+1)
	dst[rows*w] = 0xabcd
	F32ToBF16Rows(dst, src, rows, w, ld)
	want := make([]uint16, w)
	for r := 0; r < rows; r++ {
		F32ToBF16(want, src[r*ld:r*ld+w])
		for i := range want {
			if dst[r*w+i] != want[i] {
				t.Fatalf("row %d col %d: %#04x, want %#04x", r, i, dst[r*w+i], want[i])
			}
		}
	}
	if dst[rows*w] != 0xabcd {
		t.Fatal("wrote past rows·w")
	}
}
