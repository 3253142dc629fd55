package train

import (
	"fmt"
	"math"
)

// Schedules lists the learning-rate schedules.
var Schedules = []string{"constant", "linear", "cosine"}

// LR returns the learning rate of optimiser step s (0-based) out of total,
// as Hugging Face's get_{constant,linear,cosine}_schedule_with_warmup
// compute it: linear warmup from 0 over warmup steps, then constant, linear
// decay to 0, or half a cosine to 0.
func LR(schedule string, base float64, s, warmup, total int) (float64, error) {
	if s < warmup {
		return base * float64(s) / float64(max(1, warmup)), nil
	}
	progress := float64(s-warmup) / float64(max(1, total-warmup))
	switch schedule {
	case "", "constant":
		return base, nil
	case "linear":
		return base * max(0, 1-progress), nil
	case "cosine":
		return base * max(0, 0.5*(1+math.Cos(math.Pi*progress))), nil
	}
	return 0, fmt.Errorf("unknown schedule %q (want constant, linear or cosine)", schedule)
}
