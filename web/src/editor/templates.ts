// Pipelines to start from. Agent names follow the registry in cmd/whet; a
// template whose agents are not all in the palette is still offered, and its
// unknown nodes are marked on the canvas. Each runs as it is on the shared
// assets (paths relative to the server's working folder, as in a checkout
// with ../shared beside it); elsewhere the checks name the paths to change.

import type { PipelineSpec } from '../api';

export const SAMPLE_DATA = '../shared/assets/datasets/llama-factory/alpaca_en_demo.json';
export const SAMPLE_MODEL = '../shared/assets/models/stories260K';
const small = { max_steps: 60, max_seq_len: 256, batch_size: 4 };

export interface Template {
  id: string;
  title: string;
  description: string;
  spec: PipelineSpec;
}

export const templates: Template[] = [
  {
    id: 'lora-gguf',
    title: 'LoRA fine-tune with validation and GGUF export',
    description: 'Load a dataset, validate and profile it, tokenize, train a LoRA adapter, evaluate, merge and export to GGUF.',
    spec: {
      name: 'lora-finetune',
      nodes: [
        { id: 'data', agent: 'dataset', params: { source: SAMPLE_DATA, tokenizer: SAMPLE_MODEL } },
        { id: 'validate', agent: 'validate' },
        { id: 'prep', agent: 'preprocess', params: { tokenizer: SAMPLE_MODEL, max_tokens: 256 } },
        { id: 'train', agent: 'train', params: { base_model: SAMPLE_MODEL, method: 'lora', lora: { rank: 8 }, ...small } },
        { id: 'eval', agent: 'evaluate', params: { samples: 10, max_new_tokens: 32 } },
        { id: 'export', agent: 'export', params: { formats: ['adapter', 'gguf'] } },
      ],
      edges: [
        { from: 'data', to: 'validate' },
        { from: 'validate', to: 'prep' },
        { from: 'prep', to: 'train' },
        { from: 'train', to: 'eval' },
        { from: 'prep', to: 'eval' },
        { from: 'train', to: 'export' },
      ],
    },
  },
  {
    id: 'validate-only',
    title: 'Validate and profile a dataset',
    description: 'Check a dataset for malformed rows, duplicates and length outliers, and profile it.',
    spec: {
      name: 'dataset-check',
      nodes: [
        { id: 'data', agent: 'dataset', params: { source: SAMPLE_DATA, tokenizer: SAMPLE_MODEL } },
        { id: 'validate', agent: 'validate' },
      ],
      edges: [{ from: 'data', to: 'validate' }],
    },
  },
  {
    id: 'compare',
    title: 'Evaluate and compare base vs fine-tuned',
    description: 'Train a LoRA adapter, evaluate base and fine-tuned models on the same split, and compare them.',
    spec: {
      name: 'compare-models',
      nodes: [
        { id: 'data', agent: 'dataset', params: { source: SAMPLE_DATA, tokenizer: SAMPLE_MODEL } },
        { id: 'prep', agent: 'preprocess', params: { tokenizer: SAMPLE_MODEL, max_tokens: 256 } },
        { id: 'train', agent: 'train', params: { base_model: SAMPLE_MODEL, method: 'lora', ...small } },
        { id: 'eval', agent: 'evaluate', params: { samples: 10, max_new_tokens: 32 } },
        { id: 'compare', agent: 'compare' },
      ],
      edges: [
        { from: 'data', to: 'prep' },
        { from: 'prep', to: 'train' },
        { from: 'train', to: 'eval' },
        { from: 'prep', to: 'eval' },
        { from: 'eval', to: 'compare' },
      ],
    },
  },
];
