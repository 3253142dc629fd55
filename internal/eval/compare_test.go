package eval

import (
	"bytes"
	"math"
	"testing"
)

// TestWilson checks the interval against the closed form evaluated
// separately in Python (z = 1.959963984540054).
func TestWilson(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		k, n   int
		lo, hi float64
	}{
		{52, 90, 0.47461, 0.67458},
		{0, 10, 0, 0.27753},
		{10, 10, 0.72247, 1},
	} {
		lo, hi := Wilson(tc.k, tc.n, 0.95)
		if math.Abs(lo-tc.lo) > 1e-4 || math.Abs(hi-tc.hi) > 1e-4 {
			t.Errorf("Wilson(%d, %d) = [%.5f, %.5f], want [%.5f, %.5f]", tc.k, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
}

// TestHTMLPreference renders a DPO comparison: the preference section shows
// both accuracies, the ties of the base and the interval.
func TestHTMLPreference(t *testing.T) {
	t.Parallel()
	lo, hi := Wilson(57, 90, 0.95)
	c := &Comparison{Kind: KindComparison, Confidence: 0.95, Base: &Evaluation{}, Tuned: &Evaluation{},
		Preference: &Preference{Pairs: 90, Beta: 0.1, BaseTies: 90, TunedAccuracy: 57.0 / 90, Lo: lo, Hi: hi, Margin: 1.2, BaseLoss: 0.6931, TunedLoss: 3.06}}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, c); err != nil {
		t.Fatal(err)
	}
	checkSelfContained(t, buf.Bytes())
	for _, want := range []string{"Preference (DPO), held-out pairs", "90 of 90 pairs tie", "0.6333 [0.5302, 0.7255]", `class="n good"`} {
		if !bytes.Contains(buf.Bytes(), []byte(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
	var none bytes.Buffer
	c.Preference = nil
	WriteHTML(&none, c)
	if bytes.Contains(none.Bytes(), []byte("Preference (DPO)")) {
		t.Error("section shown without preference data")
	}
}
