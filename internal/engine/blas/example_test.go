package blas_test

import (
	"fmt"

	"github.com/whetstone/whetstone/internal/engine/blas"
	"github.com/whetstone/whetstone/internal/engine/blas/vec"
)

// A linear layer's forward pass, Y = X·Wᵀ, with X 2×3 and W stored out×in
// (2×3) as in PyTorch.
func ExampleSgemm() {
	x := []float32{1, 2, 3, 4, 5, 6}
	w := []float32{1, 0, 1, 0, 1, 0}
	y := make([]float32, 4)
	blas.Sgemm(false, true, 2, 2, 3, 1, x, 3, w, 3, 0, y, 2)
	fmt.Println(y)
	// Output: [4 2 10 5]
}

// The same product in bfloat16: weights converted once, activations per
// call.
func ExampleSgemmBF16W() {
	x := []float32{1, 2, 3, 4, 5, 6}
	w := make([]uint16, 6)
	blas.F32ToBF16(w, []float32{1, 0, 1, 0, 1, 0})
	y := make([]float32, 4)
	blas.SgemmBF16W(false, true, 2, 2, 3, 1, x, 3, w, 3, 0, y, 2)
	fmt.Println(y)
	// Output: [4 2 10 5]
}

func ExampleParallel() {
	squares := make([]int, 10)
	blas.Parallel(len(squares), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			squares[i] = i * i
		}
	})
	fmt.Println(squares)
	// Output: [0 1 4 9 16 25 36 49 64 81]
}

// SwiGLU forward on a gate and an up projection.
func Example_swiGLU() {
	gate := []float32{0, 1, -1}
	up := []float32{2, 2, 2}
	out := make([]float32, 3)
	vec.SiLUMul(out, gate, up)
	fmt.Printf("%.4f\n", out)
	// Output: [0.0000 1.4621 -0.5379]
}
