package train

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/safetensors"
)

// TestDPOMatchesPyTorch checks the DPO loss, the chosen and rejected rewards
// and every LoRA gradient against testdata/dpo_ref.py (PyTorch 1.13, the
// same formula on the same model, adapter and pairs; see testdata/gen.sh).
func TestDPOMatchesPyTorch(t *testing.T) {
	t.Parallel()
	var want struct {
		Beta           float64   `json:"beta"`
		Loss           float64   `json:"loss"`
		ChosenRewards  []float64 `json:"chosen_rewards"`
		RejectedReward []float64 `json:"rejected_rewards"`
		Accuracy       float64   `json:"reward_accuracy"`
		Margin         float64   `json:"reward_margin"`
	}
	readJSONFile(t, "testdata/dpo-stories260K.json", &want)
	var raw []struct{ Prompt, Chosen, Rejected []int32 }
	readJSONFile(t, "testdata/dpo_pairs.json", &raw)
	m, err := model.Load(storiesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.LoadAdapter("testdata/dpo-stories260K.adapter"); err != nil {
		t.Fatal(err)
	}
	m.EnableLoRAGrad()
	resp := func(prompt, r []int32) Example {
		ex := Example{IDs: append(append([]int32(nil), prompt...), r...), Train: make([]bool, len(prompt)+len(r))}
		for i := len(prompt); i < len(ex.Train); i++ {
			ex.Train[i] = true
		}
		return ex
	}
	var pairs []Pair
	for _, p := range raw {
		pairs = append(pairs, Pair{Chosen: resp(p.Prompt, p.Chosen), Rejected: resp(p.Prompt, p.Rejected)})
	}
	ref := NewReference(m, 512)
	// Per-pair rewards, one pair at a time (no gradients).
	for i, p := range pairs {
		st, err := DPOGrad(m, ref, []Pair{p}, want.Beta, 512, false, false, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if d := math.Abs(st.ChosenReward - want.ChosenRewards[i]); d > 1e-4 {
			t.Errorf("pair %d chosen reward %.6f, PyTorch %.6f (|Δ| %.2g)", i, st.ChosenReward, want.ChosenRewards[i], d)
		}
		if d := math.Abs(st.RejectedReward - want.RejectedReward[i]); d > 1e-4 {
			t.Errorf("pair %d rejected reward %.6f, PyTorch %.6f (|Δ| %.2g)", i, st.RejectedReward, want.RejectedReward[i], d)
		}
	}
	m.ZeroGrad()
	st, err := DPOGrad(m, ref, pairs, want.Beta, 512, true, false, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(st.Loss - want.Loss); d > 1e-4 {
		t.Errorf("loss %.6f, PyTorch %.6f (|Δ| %.2g)", st.Loss, want.Loss, d)
	}
	if st.Accuracy != want.Accuracy && math.Abs(st.Accuracy-want.Accuracy) > 1e-6 {
		t.Errorf("reward accuracy %g, PyTorch %g", st.Accuracy, want.Accuracy)
	}
	if d := math.Abs(st.Margin - want.Margin); d > 1e-4 {
		t.Errorf("reward margin %.6f, PyTorch %.6f", st.Margin, want.Margin)
	}
	f, err := safetensors.Open("testdata/dpo-stories260K.grads.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var worst, gmax float64
	for _, p := range m.LoRAParams() {
		g, _, err := f.Float32(p.Name)
		if err != nil {
			t.Fatal(err)
		}
		for i := range g {
			worst = math.Max(worst, math.Abs(float64(g[i]-p.Grad[i])))
			gmax = math.Max(gmax, math.Abs(float64(g[i])))
		}
	}
	if gmax == 0 {
		t.Fatal("reference gradients are all zero")
	}
	if worst > 1e-4*math.Max(1, gmax) {
		t.Errorf("LoRA gradients: max |Δ| %.3g (max |g| %.3g), bound 1e-4", worst, gmax)
	}
	t.Logf("loss %.7f (PyTorch %.7f); LoRA gradients max |Δ| %.3g, max |g| %.3g", st.Loss, want.Loss, worst, gmax)
}

func readJSONFile(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestFitResponse(t *testing.T) {
	t.Parallel()
	ex := func(prompt, resp int) Example {
		e := Example{}
		for i := range prompt + resp {
			e.IDs = append(e.IDs, int32(i))
			e.Train = append(e.Train, i >= prompt)
		}
		return e
	}
	for _, tc := range []struct {
		name                string
		prompt, resp, max   int
		wantIDs             []int32
		wantTrainedFromStep int
	}{
		{"fits", 3, 2, 8, []int32{0, 1, 2, 3, 4}, 3},
		{"prompt cut from the start", 6, 2, 5, []int32{0, 4, 5, 6, 7}, 3},
		{"response cut at the end", 3, 6, 4, []int32{0, 3, 4, 5}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fitResponse(ex(tc.prompt, tc.resp), tc.max)
			if fmt.Sprint(got.IDs) != fmt.Sprint(tc.wantIDs) {
				t.Fatalf("ids %v, want %v", got.IDs, tc.wantIDs)
			}
			for i, tr := range got.Train {
				if tr != (i >= tc.wantTrainedFromStep) {
					t.Fatalf("train mask %v, want trained from %d", got.Train, tc.wantTrainedFromStep)
				}
			}
		})
	}
}
