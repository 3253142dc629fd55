package eval_test

import (
	"fmt"

	"github.com/whetstone/whetstone/internal/eval"
)

func ExampleRougeL() {
	// Lin (2004): LCS "police the gunman" is 3 of 4 words both ways.
	fmt.Printf("%.2f\n", eval.RougeL("police kill the gunman", "police killed the gunman"))
	// Output: 0.75
}

func ExampleTokenF1() {
	// SQuAD normalisation drops case, punctuation and articles.
	fmt.Printf("%.3f %v\n", eval.TokenF1("The cat sat", "a cat sat on the mat"), eval.ExactMatch("Paris!", "paris"))
	// Output: 0.667 1
}

func ExampleBootstrap() {
	scores := []float64{0.2, 0.4, 0.4, 0.5, 0.6, 0.6, 0.7, 0.9}
	ci := eval.Bootstrap(len(scores), 1000, 0.95, eval.NewRand(1), func(idx []int) float64 {
		s := 0.0
		for _, i := range idx {
			s += scores[i]
		}
		return s / float64(len(idx))
	})
	fmt.Printf("mean %.3f, interval below and above it: %v\n", ci.Estimate, ci.Lo < ci.Estimate && ci.Estimate < ci.Hi)
	// Output: mean 0.538, interval below and above it: true
}
