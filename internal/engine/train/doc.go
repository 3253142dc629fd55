// Package train fine-tunes a model.Model: LoRA, QLoRA (LoRA on a base whose
// projections are held in 4-bit NF4) or full fine-tuning with
// AdamW, learning-rate schedules with warmup, gradient accumulation,
// global-norm clipping, prompt-loss masking, sequence packing, periodic
// validation, checkpoints with exact resume, a stop on NaN/Inf, and a memory
// estimate that refuses runs that will not fit.
//
// # Determinism
//
// Everything random is a pure function of Config.Seed and a counter: the
// example order of epoch e is a shuffle seeded by (Seed, e), and the LoRA
// dropout masks of micro-batch k are seeded by (Seed, k). A checkpoint
// therefore only needs the weights, the optimiser moments and the step
// number to continue exactly where the run stopped.
package train
