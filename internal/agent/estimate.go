package agent

import "context"

// Estimate is what a node will need, predicted before it runs (a dry run:
// POST /api/v1/jobs?dry_run=true, whet run --dry-run).
type Estimate struct {
	// Device is where the node would run: cpu or cuda:N.
	Device string `json:"device"`
	// MemoryBytes is the predicted peak memory on Device.
	MemoryBytes int64 `json:"memory_bytes"`
	// Tokens, Steps: what a training node feeds the model, in how many
	// optimiser steps.
	Tokens int64 `json:"tokens"`
	Steps  int   `json:"steps"`
	// Seconds is the predicted duration, from a short measured warm-up on
	// this machine.
	Seconds float64 `json:"seconds"`
	// CPUSeconds is Seconds in process CPU time (all threads).
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
	// AvailableBytes is the memory free on Device now (0: unknown), and
	// Fits says whether MemoryBytes fits in it.
	AvailableBytes int64 `json:"available_bytes,omitempty"`
	Fits           bool  `json:"fits"`
	// Warning says why the node will not run as planned (it will not fit).
	Warning string `json:"warning,omitempty"`
	// Basis says how the figures were obtained, for people.
	Basis string `json:"basis,omitempty"`
}

// Estimator is an optional agent capability: predicting a node's needs
// from its params and inputs without running it. Estimate must not write
// outside env.OutDir and must leave no state behind. Inputs may be
// stand-ins made by running the data agents upstream in a scratch folder.
type Estimator interface {
	Estimate(ctx context.Context, env *Env) (*Estimate, error)
}
