package model

import (
	"unsafe"

	"github.com/whetstone/whetstone/internal/engine/nn"
)

// Fused projections in the training pass.
//
// The projections that read the same input, q/k/v (the attention norm's
// output) and gate/up (the MLP norm's output), are computed as one group
// into one [N, ΣOut] buffer whose column blocks are the members' outputs:
//
//   - the frozen base products run as one GEMM when the members' bf16
//     weights are views of one concatenated [ΣOut, In] copy (UseBF16 makes
//     them so), or, for NF4 bases, from one dequantized tile; otherwise one
//     GEMM per member into its column block;
//   - the LoRA products that read the shared input run as one: x·[A₀; A₁; …]ᵀ
//     forward, and in the backward pass dA = duᵀ·x and dx += du·[A₀; A₁; …];
//     each member's B product reads and writes only its own columns, so it
//     stays per member (with LoRA dropout every member has its own input and
//     the whole LoRA stays per member);
//   - the backward pass gets the members' output gradients in one buffer
//     and computes the input gradient of the base as one product.
//
// The per-module Params stay the source of truth: the concatenated bf16
// weight is a derived copy (as Wbf always was) whose views are the members'
// Wbf, and the concatenated A is copied from the members' A every forward
// pass (its gradient is added back to each member's). Checkpoints, PEFT
// export and loading see the per-module tensors only.
//
// Groups apply to frozen bases (LoRA, QLoRA, and DPO's reference); full
// fine-tuning and Qwen3's per-head q/k norm use the per-projection path.

// fusedW is one group's concatenated bf16 weight.
type fusedW struct {
	wbf []uint16
}

// layerFused holds a layer's concatenated weights.
type layerFused struct {
	qkv, gu fusedW
}

// groupable reports whether lins can be computed as one group: same input
// size, frozen weights and biases, and all dense or all NF4 (with the same
// precision).
func (m *Model) groupable(lins []*Linear) bool {
	if m.noFuse {
		return false
	}
	f := lins[0]
	for _, l := range lins {
		if l.In != f.In || (l.Q != nil) != (f.Q != nil) || l.QBF16 != f.QBF16 ||
			(l.W != nil && l.W.Grad != nil) || (l.B != nil && l.B.Grad != nil) {
			return false
		}
		if l.Q == nil && (l.W == nil || (l.W.Data == nil && l.Wbf == nil)) {
			return false
		}
	}
	return true
}

// valid reports whether every member's Wbf is its view of f.wbf.
func (f *fusedW) valid(lins []*Linear) bool {
	if len(f.wbf) == 0 {
		return false
	}
	o := 0
	for _, l := range lins {
		n := l.Out * l.In
		if len(l.Wbf) != n || o+n > len(f.wbf) || unsafe.SliceData(l.Wbf) != &f.wbf[o] {
			return false
		}
		o += n
	}
	return o == len(f.wbf)
}

// fuseBF16 makes the members' bf16 weights views of one concatenated copy,
// converting from W.Data (fromF32) or copying their current Wbf. It returns
// false, changing nothing, when a member has neither.
func (f *fusedW) fuseBF16(lins []*Linear, fromF32 bool) bool {
	total := 0
	for _, l := range lins {
		if fromF32 && len(l.W.Data) != l.Out*l.In || !fromF32 && len(l.Wbf) != l.Out*l.In {
			return false
		}
		total += l.Out * l.In
	}
	cat := make([]uint16, total)
	o := 0
	for _, l := range lins {
		n := l.Out * l.In
		if fromF32 {
			nn.ToBF16Into(cat[o:o+n], l.W.Data)
		} else {
			copy(cat[o:o+n], l.Wbf)
		}
		l.Wbf = cat[o : o+n : o+n]
		o += n
	}
	f.wbf = cat
	return true
}

// fusedBF16 returns the group's concatenated bf16 weight, or nil when the
// members do not all hold bf16 weights.
func (f *fusedW) fusedBF16(lins []*Linear) []uint16 {
	if f.valid(lins) {
		return f.wbf
	}
	for _, l := range lins {
		if l.Wbf == nil {
			return nil
		}
	}
	if !f.fuseBF16(lins, false) {
		return nil
	}
	return f.wbf
}

// groupActs is what a group's forward pass keeps for its backward pass.
type groupActs struct {
	ld   int       // row stride of the group output; 0: the group was not used
	offs []int     // column offset of each member
	lora bool      // the A products ran fused
	roff []int     // column offset of each member's rank block in u (-1: no LoRA)
	rt   int       // total rank
	acat []float32 // [rt, In] the members' A, stacked
	u    []float32 // [N, rt] x·acatᵀ
}

func activeLoRA(l *Linear) *LoRA {
	if l.LoRA == nil || l.LoRA.Off {
		return nil
	}
	return l.LoRA
}

// groupFwd computes y [n, ld] = x·[W₀; W₁; …]ᵀ + biases + LoRA for a group
// (see the comment at the top of this file). la are the members' per-module
// LoRA activations (used when dropout keeps the LoRA per member).
func groupFwd(fw *fusedW, lins []*Linear, y []float32, ld int, x []float32, n int, ga *groupActs, la []loraActs, train bool, seed uint64, grow func([]float32, int) []float32) {
	in := lins[0].In
	ga.ld = ld
	ga.offs = ga.offs[:0]
	o := 0
	for _, l := range lins {
		ga.offs = append(ga.offs, o)
		o += l.Out
	}
	out := o
	switch {
	case lins[0].Q != nil:
		qs := make([]*nn.NF4, len(lins))
		for j, l := range lins {
			qs[j] = l.Q
		}
		// One tile only in bf16, as the dense base fuses only its bf16 copy:
		// an NF4 base then computes exactly what its dequantized weights do.
		if !lins[0].QBF16 || !nn.LinearNF4Group(y, ld, x, qs, true, n) {
			for j, l := range lins {
				nn.LinearNF4Ld(y[ga.offs[j]:], ld, x, l.Q, l.QBF16, n)
			}
		}
	default:
		if wbf := fw.fusedBF16(lins); wbf != nil {
			nn.LinearLd(y, ld, x, nil, wbf, n, in, out)
		} else {
			for j, l := range lins {
				nn.LinearLd(y[ga.offs[j]:], ld, x, l.W.Data, l.Wbf, n, in, l.Out)
			}
		}
	}
	for j, l := range lins {
		if l.B != nil {
			nn.AddBiasLd(y[ga.offs[j]:], ld, l.B.Data, n, l.Out)
		}
	}

	// LoRA: one product with the stacked A unless dropout gives each member
	// its own input.
	ga.lora, ga.rt = false, 0
	ga.roff = ga.roff[:0]
	fused := true
	for _, l := range lins {
		r := -1
		if lr := activeLoRA(l); lr != nil {
			r = ga.rt
			ga.rt += lr.Rank
			if train && lr.Dropout > 0 {
				fused = false
			}
		}
		ga.roff = append(ga.roff, r)
	}
	for j := range la {
		la[j].dropped = false
	}
	if ga.rt == 0 {
		return
	}
	be := nn.CurrentBackend()
	if !fused {
		for j, l := range lins {
			if activeLoRA(l) != nil {
				loraFwd(l, y[ga.offs[j]:], ld, x, n, &la[j], train, seed+uint64(j), nil)
			}
		}
		return
	}
	rt := ga.rt
	ga.acat = grow(ga.acat, rt*in)
	ga.u = grow(ga.u, n*rt)
	for j, l := range lins {
		if r := ga.roff[j]; r >= 0 {
			copy(ga.acat[r*in:], l.LoRA.A.Data)
		}
	}
	be.Sgemm(false, true, n, rt, in, 1, x, in, ga.acat, in, 0, ga.u, rt)
	for j, l := range lins {
		if r := ga.roff[j]; r >= 0 {
			lr := l.LoRA
			// y_j += scale·u_j·B_jᵀ
			be.Sgemm(false, true, n, l.Out, lr.Rank, lr.Scale, ga.u[r:], rt, lr.B.Data, lr.Rank, 1, y[ga.offs[j]:], ld)
		}
	}
	ga.lora = true
}

// groupBwd accumulates the gradients of a group's LoRA weights from dy
// [n, ld] (the members' output gradients side by side) and computes
// dx (+)= ∂/∂x (nil dx skips it). x is the forward input.
func (w *workspace) groupBwd(fw *fusedW, lins []*Linear, dx, dy []float32, x []float32, n int, ga *groupActs, la []loraActs, accumulate bool) {
	in, ld := lins[0].In, ga.ld
	out := 0
	for _, l := range lins {
		out += l.Out
	}
	if dx != nil {
		switch {
		case lins[0].Q != nil:
			qs := make([]*nn.NF4, len(lins))
			for j, l := range lins {
				qs[j] = l.Q
			}
			if !lins[0].QBF16 || !nn.LinearBackwardNF4Group(dx, dy, ld, qs, true, n, accumulate) {
				for j, l := range lins {
					nn.LinearBackwardNF4Ld(dx, dy[ga.offs[j]:], ld, l.Q, l.QBF16, n, accumulate || j > 0)
				}
			}
		case fw.valid(lins):
			nn.LinearBackwardLd(dx, dy, ld, nil, fw.wbf, n, in, out, accumulate)
		default:
			for j, l := range lins {
				nn.LinearBackwardLd(dx, dy[ga.offs[j]:], ld, l.W.Data, l.Wbf, n, in, l.Out, accumulate || j > 0)
			}
		}
	}
	if ga.rt == 0 {
		return
	}
	be := nn.CurrentBackend()
	if !ga.lora {
		for j, l := range lins {
			if activeLoRA(l) != nil {
				w.loraBwd(l, dx, dy[ga.offs[j]:], ld, x, n, &la[j])
			}
		}
		return
	}
	rt := ga.rt
	du := w.du[:n*rt]
	for j, l := range lins {
		r := ga.roff[j]
		if r < 0 {
			continue
		}
		lr := l.LoRA
		dyj := dy[ga.offs[j]:]
		// du_j = scale·dy_j·B_j ; dB_j += scale·dy_jᵀ·u_j
		be.Sgemm(false, false, n, lr.Rank, l.Out, lr.Scale, dyj, ld, lr.B.Data, lr.Rank, 0, du[r:], rt)
		if lr.B.Grad != nil {
			be.Sgemm(true, false, l.Out, lr.Rank, n, lr.Scale, dyj, ld, ga.u[r:], rt, 1, lr.B.Grad, lr.Rank)
		}
	}
	// dA (all members at once) = duᵀ·x, added to each member's A.Grad.
	w.dacat = growF(w.dacat, rt*in)
	be.Sgemm(true, false, rt, in, n, 1, du, rt, x, in, 0, w.dacat, in)
	for j, l := range lins {
		if r := ga.roff[j]; r >= 0 && l.LoRA.A.Grad != nil {
			g := l.LoRA.A.Grad
			src := w.dacat[r*in : r*in+len(g)]
			for i := range g {
				g[i] += src[i]
			}
		}
	}
	if dx != nil {
		be.Sgemm(false, false, n, in, rt, 1, du, rt, ga.acat, in, 1, dx, in)
	}
}

func growF(buf []float32, n int) []float32 {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]float32, n, n+n/4)
}
