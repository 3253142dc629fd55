package compare

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/whetstone/whetstone/internal/data/contam"
	"github.com/whetstone/whetstone/internal/data/dataset"
	"github.com/whetstone/whetstone/internal/data/reader"
	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/eval"
)

// trainFileFor returns the training split next to an evaluated split
// (preprocess writes train.jsonl beside validation.jsonl), or "".
func trainFileFor(evalFile string) string {
	p := filepath.Join(filepath.Dir(evalFile), "train.jsonl")
	if p == evalFile {
		return ""
	}
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// contamination indexes the evaluated split's n-grams and streams the
// training rows past them (as validate's contamination check does).
func contamination(ctx context.Context, trainFile, evalFile string, n int) (*eval.Contamination, error) {
	x, err := contam.New(n)
	if err != nil {
		return nil, err
	}
	if err := x.AddFile(ctx, "evaluated split", evalFile); err != nil {
		return nil, err
	}
	s, err := dataset.OpenFile(trainFile, "")
	if err != nil {
		return nil, fmt.Errorf("training split: %w", err)
	}
	defer s.Close()
	c := &eval.Contamination{Ngram: x.N(), TrainFile: trainFile, EvalFile: evalFile, Findings: []eval.ContaminationFinding{},
		BoilerplateNgrams: x.BoilerplateNgrams()}
	var r record.Record
	var ws, scratch []uint64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		err := s.Next(&r)
		if err == io.EOF {
			break
		}
		var re *reader.Error
		if errors.As(err, &re) && !re.Fatal {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("training split %s: %w", trainFile, err)
		}
		c.TrainRows++
		ws = contam.Words(&r, ws[:0])
		ref, shared, ok := x.Match(ws, &scratch)
		if !ok {
			continue
		}
		c.Rows++
		if len(c.Findings) < eval.MaxFindings {
			c.Findings = append(c.Findings, eval.ContaminationFinding{TrainRow: s.Row(), EvalRow: ref.Row, Shared: shared})
		}
	}
	return c, nil
}
