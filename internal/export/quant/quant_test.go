package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

func gaussian(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.02)
	}
	return x
}

// relRMSE is ‖x−y‖/‖x‖.
func relRMSE(x, y []float32) float64 {
	var num, den float64
	for i := range x {
		d := float64(x[i] - y[i])
		num += d * d
		den += float64(x[i]) * float64(x[i])
	}
	return math.Sqrt(num / den)
}

func TestRoundTripError(t *testing.T) {
	t.Parallel()
	// Bounds on the relative RMS error for Gaussian weights; the expected
	// values for 4-, 5-, 6- and 8-bit codes are about 0.1, 0.05, 0.02, 0.005.
	tests := []struct {
		typ      Type
		maxRel   float64
		minRel   float64 // a lossy code that reports ~0 error is broken too
		blockLen int
	}{
		{F32, 0, 0, 1},
		{F16, 1e-3, 0, 1},
		{BF16, 5e-3, 1e-4, 1},
		{Q8_0, 0.01, 1e-4, 32},
		{Q6_K, 0.03, 1e-3, 256},
		{Q5_0, 0.06, 1e-3, 32},
		{Q4_K, 0.11, 1e-2, 256},
		{Q4_0, 0.13, 1e-2, 32},
	}
	x := gaussian(4*512, 7)
	for _, tt := range tests {
		t.Run(tt.typ.String(), func(t *testing.T) {
			t.Parallel()
			q, err := Quantize(nil, tt.typ, x, 512)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(q), tt.typ.RowSize(len(x)); got != want {
				t.Fatalf("encoded %d bytes, want %d", got, want)
			}
			y, err := Dequantize(nil, tt.typ, q, len(x))
			if err != nil {
				t.Fatal(err)
			}
			e := relRMSE(x, y)
			t.Logf("%v: relative RMS error %.5f, %.2f bits/value", tt.typ, e, 8*float64(len(q))/float64(len(x)))
			if e > tt.maxRel || e < tt.minRel {
				t.Errorf("relative RMS error %.5f outside [%g, %g]", e, tt.minRel, tt.maxRel)
			}
		})
	}
}

// TestKnownBlocks checks encodings worked out by hand from ggml's block
// definitions.
func TestKnownBlocks(t *testing.T) {
	t.Parallel()
	x := make([]float32, 32)
	for i := range x {
		x[i] = float32(i - 16) // -16..15, amax 16
	}
	q, err := Quantize(nil, Q8_0, x, 32)
	if err != nil {
		t.Fatal(err)
	}
	// d = 16/127; stored as f16; q[i] = round((i-16)·127/16).
	if got, want := f16(q), roundF16(16.0/127); got != want {
		t.Errorf("Q8_0 d = %v, want %v", got, want)
	}
	if int8(q[2]) != -127 || int8(q[2+31]) != int8(math.Round(15*127.0/16)) || q[2+16] != 0 {
		t.Errorf("Q8_0 qs = %v", q[2:])
	}
	q, err = Quantize(nil, Q4_0, x, 32)
	if err != nil {
		t.Fatal(err)
	}
	// max (signed) = -16, d = -16/-8 = 2; q = trunc(x/2 + 8.5) clamped to 15.
	if got := f16(q); got != 2 {
		t.Errorf("Q4_0 d = %v, want 2", got)
	}
	// qs[0]: x[0] = -16 -> 0 (low), x[16] = 0 -> 8 (high).
	// qs[15]: x[15] = -1 -> trunc(8.0) = 8 (low), x[31] = 15 -> min(15, 16) = 15.
	if q[2] != 0x80 || q[2+15] != 0xf8 {
		t.Errorf("Q4_0 qs[0] = %#x, qs[15] = %#x, want 0x80, 0xf8", q[2], q[2+15])
	}
	y, _ := Dequantize(nil, Q4_0, q, 32)
	if y[0] != -16 || y[16] != 0 || y[31] != 14 {
		t.Errorf("Q4_0 decoded %v", y)
	}
}

func TestZerosAndErrors(t *testing.T) {
	t.Parallel()
	for _, typ := range []Type{Q8_0, Q4_0, Q5_0, Q4_K, Q6_K} {
		x := make([]float32, 256)
		q, err := Quantize(nil, typ, x, 256)
		if err != nil {
			t.Fatal(err)
		}
		y, err := Dequantize(nil, typ, q, 256)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range y {
			if v != 0 || math.IsNaN(float64(v)) {
				t.Fatalf("%v: zeros decode to %v at %d", typ, v, i)
			}
		}
	}
	if _, err := Quantize(nil, Q4_K, make([]float32, 64), 64); err == nil {
		t.Error("Q4_K accepted rows of 64")
	}
	if _, err := Quantize(nil, Q8_0, make([]float32, 100), 64); err == nil {
		t.Error("accepted a partial row")
	}
	if _, err := ParseType("q4_k"); err != nil {
		t.Error(err)
	}
	if _, err := ParseType("q3_k"); err == nil {
		t.Error("parsed q3_k")
	}
}

func BenchmarkQuantize(b *testing.B) {
	x := gaussian(576*1536, 1)
	for _, typ := range []Type{F16, Q8_0, Q4_0, Q4_K, Q6_K} {
		b.Run(typ.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(4 * len(x)))
			buf := make([]byte, 0, typ.RowSize(len(x)))
			for b.Loop() {
				if _, err := Quantize(buf[:0], typ, x, 1536); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
