package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// TestNF4Codebook checks the 16 constants against bitsandbytes' published
// decimal values and against an independent derivation: QLoRA's
// create_normal_map(offset=0.9677083), i.e. the normal quantiles
// Φ⁻¹(linspace(offset, 0.5, 9)[:-1]) and −Φ⁻¹(linspace(offset, 0.5, 8)[:-1]),
// a zero, sorted and divided by the largest.
func TestNF4Codebook(t *testing.T) {
	published := []string{
		"-1.0", "-0.6961928009986877", "-0.5250730514526367", "-0.39491748809814453",
		"-0.28444138169288635", "-0.18477343022823334", "-0.09105003625154495", "0.0",
		"0.07958029955625534", "0.16093020141124725", "0.24611230194568634", "0.33791524171829224",
		"0.44070982933044434", "0.5626170039176941", "0.7229568362236023", "1.0",
	}
	for i, s := range published {
		v, _ := strconv.ParseFloat(s, 64)
		if NF4Codebook[i] != float32(v) {
			t.Errorf("code %d = %v, bitsandbytes has %s", i, NF4Codebook[i], s)
		}
	}
	ppf := func(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }
	const offset = 0.9677083
	var v []float64
	for i := 0; i < 8; i++ { // linspace(offset, 0.5, 9)[:-1]
		v = append(v, ppf(offset+(0.5-offset)*float64(i)/8))
	}
	for i := 0; i < 7; i++ { // linspace(offset, 0.5, 8)[:-1]
		v = append(v, -ppf(offset+(0.5-offset)*float64(i)/7))
	}
	v = append(v, 0)
	slices.Sort(v)
	for i := range v {
		want := v[i] / v[15]
		if d := math.Abs(float64(NF4Codebook[i]) - want); d > 1e-6 {
			t.Errorf("code %d = %v, normal-quantile construction gives %v (diff %g)", i, NF4Codebook[i], want, d)
		}
	}
}

// nearestCode is the brute-force reference for NF4Code: the codebook entry
// nearest to x, the lower one on a tie.
func nearestCode(x float32) byte {
	best, bd := 0, math.Inf(1)
	for i, c := range NF4Codebook {
		if d := math.Abs(float64(x) - float64(c)); d < bd {
			best, bd = i, d
		}
	}
	return byte(best)
}

func TestNF4CodeIsNearest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	xs := []float32{-1, 1, 0, -0.5, 0.5, 0.03979015, -0.0455}
	for range 20000 {
		xs = append(xs, float32(r.Float64()*2-1))
	}
	for _, x := range xs {
		if got, want := NF4Code(x), nearestCode(x); got != want && math.Abs(float64(x-NF4Codebook[got])) != math.Abs(float64(x-NF4Codebook[want])) {
			t.Fatalf("NF4Code(%v) = %d, nearest is %d", x, got, want)
		}
	}
	// Ties go to the lower code, as in bitsandbytes' dQuantizeNF4.
	for i := range 15 {
		if got := NF4Code(nf4Mid[i]); got != byte(i) {
			t.Errorf("threshold %d (%v) → code %d, want %d", i, nf4Mid[i], got, i)
		}
	}
}

// maxHalfGap is the largest distance from a value in [-1, 1] to its nearest
// code.
func maxHalfGap() float64 {
	g := 0.0
	for i := range 15 {
		g = max(g, float64(NF4Codebook[i+1]-NF4Codebook[i])/2)
	}
	return g
}

// CheckNF4Error quantizes w and checks every element against its block's
// bound (absmax·half the widest codebook gap, and 0 for the block maximum)
// and returns the relative RMS error ‖w−deq‖/‖w‖.
func checkNF4Error(t *testing.T, name string, w []float32, out, in int, dq bool) float64 {
	t.Helper()
	q, err := QuantizeNF4(w, out, in)
	if err != nil {
		t.Fatal(err)
	}
	exact := slices.Clone(q.Absmax)
	if dq {
		q.DoubleQuantize()
		if q.Absmax != nil || len(q.AbsmaxQ) != len(exact) {
			t.Fatalf("%s: DoubleQuantize kept %d float32 scales, %d 8-bit", name, len(q.Absmax), len(q.AbsmaxQ))
		}
		// Each scale within half the widest DynamicMap8 gap of its
		// second-level block's range.
		for b, a := range exact {
			b2 := b / DQBlockSize
			if e := math.Abs(float64(q.Scale(b) - a)); e > float64(q.Absmax2[b2])*maxDynHalfGap()*(1+1e-6)+1e-7*float64(a) {
				t.Fatalf("%s: scale %d: %v → %v", name, b, a, q.Scale(b))
			}
		}
	}
	if got, want := q.Bytes(), NF4Bytes(out, in, dq); got != want {
		t.Errorf("%s: %d bytes, NF4Bytes says %d", name, got, want)
	}
	d := q.Float32()
	hg := maxHalfGap()
	var se, sw float64
	for i, v := range w {
		b := i / NF4BlockSize
		amax := 0.0
		for _, u := range w[b*NF4BlockSize : min((b+1)*NF4BlockSize, len(w))] {
			amax = max(amax, math.Abs(float64(u)))
		}
		e := math.Abs(float64(v) - float64(d[i]))
		// The code was chosen with the exact scale; a double-quantized
		// scale moves the value by at most |scale error|.
		se2 := math.Abs(float64(q.Scale(b)) - amax)
		if e > amax*hg*(1+1e-6)+se2+1e-12 {
			t.Fatalf("%s: element %d: %v → %v, error %g above bound %g", name, i, v, d[i], e, amax*hg)
		}
		if math.Abs(float64(v)) == amax && e > amax*1e-7+se2 {
			t.Fatalf("%s: block max %v at %d not exact: %v", name, v, i, d[i])
		}
		se += e * e
		sw += float64(v) * float64(v)
	}
	return math.Sqrt(se / sw)
}

func TestNF4QuantizeError(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name    string
		out, in int
		w       []float32
		maxRel  float64
		dq      bool
	}{
		// Normal weights: NF4 is built for them; ~10% relative RMS error.
		{"normal 96x130", 96, 130, randn(r, 96*130, 0.02), 0.10, false},
		{"normal odd 7x9", 7, 9, randn(r, 63, 1), 0.10, false},
		{"uniform 64x64", 64, 64, func() []float32 {
			x := make([]float32, 64*64)
			for i := range x {
				x[i] = float32(r.Float64()*2 - 1)
			}
			return x
		}(), 0.10, false},
		{"zeros 4x64", 4, 64, make([]float32, 256), 0, false},
		// Double quantization: 8-bit scales cost little accuracy.
		{"normal dq 300x256", 300, 256, randn(r, 300*256, 0.02), 0.10, true},
		{"normal dq odd 7x9", 7, 9, randn(r, 63, 1), 0.10, true},
		{"zeros dq 4x64", 4, 64, make([]float32, 256), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := checkNF4Error(t, tc.name, tc.w, tc.out, tc.in, tc.dq)
			if math.IsNaN(rel) {
				rel = 0
			}
			t.Logf("relative RMS error %.4f", rel)
			if rel > tc.maxRel {
				t.Errorf("relative RMS error %.4f above %.4f", rel, tc.maxRel)
			}
		})
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := QuantizeNF4([]float32{1, float32(v)}, 1, 2); err == nil {
			t.Errorf("weight %v quantized without error", v)
		}
	}
	if _, err := QuantizeNF4([]float32{1}, 1, 2); err == nil {
		t.Error("wrong length quantized without error")
	}
}

// TestNF4MatmulMatchesDequantized checks that the NF4 products equal the
// float32 (and bf16) products with the dequantized weight: exactly when the
// weight fits one tile, to float32 rounding when it is split.
func TestNF4MatmulMatchesDequantized(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name       string
		n, out, in int
		bf16, dq   bool
	}{
		{"small", 5, 24, 40, false, false},
		{"odd", 3, 7, 9, false, false},
		{"one row", 1, 96, 64, false, false},
		{"tiled", 3, 1100, 1024, false, false}, // 1.1M elements: two tiles
		{"small bf16", 5, 24, 40, true, false},
		{"tiled bf16", 2, 1100, 1024, true, false},
		{"double quant", 5, 300, 256, false, true},
		{"double quant bf16", 5, 300, 256, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := randn(r, tc.out*tc.in, 0.05)
			q, err := QuantizeNF4(w, tc.out, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if tc.dq {
				q.DoubleQuantize()
			}
			deq := q.Float32()
			var deqBF []uint16
			if tc.bf16 {
				deqBF = ToBF16(deq)
			}
			x := randn(r, tc.n*tc.in, 1)
			bias := randn(r, tc.out, 1)
			dy := randn(r, tc.n*tc.out, 1)
			y, yRef := make([]float32, tc.n*tc.out), make([]float32, tc.n*tc.out)
			LinearNF4(y, x, q, tc.bf16, bias, tc.n)
			LinearW(yRef, x, deq, deqBF, bias, tc.n, tc.in, tc.out)
			dx, dxRef := randn(r, tc.n*tc.in, 1), make([]float32, tc.n*tc.in)
			copy(dxRef, dx)
			LinearBackwardNF4(dx, dy, q, tc.bf16, tc.n, true)
			LinearBackwardW(dxRef, nil, nil, dy, x, deq, deqBF, tc.n, tc.in, tc.out, true)
			dx0, dx0Ref := randn(r, tc.n*tc.in, 1), make([]float32, tc.n*tc.in)
			LinearBackwardNF4(dx0, dy, q, tc.bf16, tc.n, false)
			LinearBackwardW(dx0Ref, nil, nil, dy, x, deq, deqBF, tc.n, tc.in, tc.out, false)
			tiled := tc.out*tc.in > NF4TileElems
			for _, c := range []struct {
				name      string
				got, want []float32
			}{{"y", y, yRef}, {"dx accumulate", dx, dxRef}, {"dx", dx0, dx0Ref}} {
				for i := range c.got {
					d := math.Abs(float64(c.got[i] - c.want[i]))
					if (!tiled && d != 0) || d > 1e-5*(1+math.Abs(float64(c.want[i]))) {
						t.Fatalf("%s[%d] = %v, dequantized product gives %v", c.name, i, c.got[i], c.want[i])
					}
				}
			}
		})
	}
}

func BenchmarkLinearNF4(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	n, out, in := 256, 1536, 576
	q, _ := QuantizeNF4(randn(r, out*in, 0.02), out, in)
	x, y := randn(r, n*in, 1), make([]float32, n*out)
	for b.Loop() {
		LinearNF4(y, x, q, false, nil, n)
	}
}

// TestNF4DequantizeRanges: any sub-range (odd ends, block-crossing) and the
// bf16 variant agree with the element-by-element definition.
func TestNF4DequantizeRanges(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	const out, in = 13, 37
	q, err := QuantizeNF4(randn(r, out*in, 1), out, in)
	if err != nil {
		t.Fatal(err)
	}
	ref := make([]float32, out*in)
	for i := range ref {
		c := q.Codes[i/2] >> 4
		if i%2 == 1 {
			c = q.Codes[i/2] & 15
		}
		ref[i] = NF4Codebook[c] * q.Absmax[i/NF4BlockSize]
	}
	bf := ToBF16(ref)
	for _, rg := range [][2]int{{0, out * in}, {1, 2}, {3, 130}, {63, 65}, {64, 128}, {100, 101}, {0, 1}, {out*in - 1, out * in}, {5, 5}} {
		d, db := make([]float32, rg[1]-rg[0]), make([]uint16, rg[1]-rg[0])
		q.Dequantize(d, rg[0], rg[1])
		q.DequantizeBF16(db, rg[0], rg[1])
		if !slices.Equal(d, ref[rg[0]:rg[1]]) || !slices.Equal(db, bf[rg[0]:rg[1]]) {
			t.Errorf("range %v differs from the definition", rg)
		}
	}
}

func BenchmarkNF4Dequantize(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	q, _ := QuantizeNF4(randn(r, 1536*576, 0.02), 1536, 576)
	d := make([]float32, 1536*576)
	for b.Loop() {
		q.Dequantize(d, 0, len(d))
	}
}

func maxDynHalfGap() float64 {
	g := 0.0
	for i := range 255 {
		g = max(g, float64(DynamicMap8[i+1]-DynamicMap8[i])/2)
	}
	return g
}

// TestDynamicMap8 recomputes bitsandbytes' create_dynamic_map(signed=True)
// in float64 to float32 rounding (for i in 0..6: the midpoints of linspace(0.1, 1, 2^i+1) times
// ±10^(i-6); then 0 and 1; sorted) and checks the float32 table against it,
// and DynamicCode8 against a brute-force nearest search.
func TestDynamicMap8(t *testing.T) {
	var v []float64
	for i := range 7 {
		n := 1<<i + 1
		for j := range n - 1 {
			a, b := 0.1+0.9*float64(j)/float64(n-1), 0.1+0.9*float64(j+1)/float64(n-1)
			m := (a + b) / 2 * math.Pow(10, float64(i-6))
			v = append(v, m, -m)
		}
	}
	v = append(v, 0, 1)
	slices.Sort(v)
	if len(v) != 256 {
		t.Fatalf("%d values", len(v))
	}
	for i := range v {
		if d := math.Abs(float64(DynamicMap8[i]) - v[i]); d > 5e-7*math.Abs(v[i])+1e-12 { // torch computed it in float32: a few ulps
			t.Errorf("DynamicMap8[%d] = %v, construction gives %v", i, DynamicMap8[i], v[i])
		}
		if i > 0 && DynamicMap8[i] <= DynamicMap8[i-1] {
			t.Errorf("DynamicMap8 not strictly increasing at %d", i)
		}
	}
	r := rand.New(rand.NewPCG(4, 4))
	for range 5000 {
		x := float32(r.Float64()*2 - 1)
		if r.IntN(2) == 0 {
			x *= float32(math.Pow(10, -float64(r.IntN(7))))
		}
		got := DynamicCode8(x)
		best, bd := 0, math.Inf(1)
		for i, c := range DynamicMap8 {
			if d := math.Abs(float64(x) - float64(c)); d < bd {
				best, bd = i, d
			}
		}
		if got != byte(best) && math.Abs(float64(x-DynamicMap8[got])) != bd {
			t.Fatalf("DynamicCode8(%v) = %d, nearest is %d", x, got, best)
		}
	}
}

func BenchmarkQuantizeNF4(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	w := randn(r, 1536*576, 0.02)
	for b.Loop() {
		QuantizeNF4(w, 1536, 576)
	}
}
