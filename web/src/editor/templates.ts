// Pipelines to start from. Agent names follow the registry in cmd/whet; a
// template whose agents are not all in the palette is still offered, and its
// unknown nodes are marked on the canvas.

import type { PipelineSpec } from '../api';

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
        { id: 'data', agent: 'dataset', params: { source: '' } },
        { id: 'validate', agent: 'validate' },
        { id: 'prep', agent: 'preprocess' },
        { id: 'train', agent: 'train', params: { method: 'lora', lora: { rank: 8 } } },
        { id: 'eval', agent: 'evaluate' },
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
        { id: 'data', agent: 'dataset', params: { source: '' } },
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
        { id: 'data', agent: 'dataset', params: { source: '' } },
        { id: 'prep', agent: 'preprocess' },
        { id: 'train', agent: 'train', params: { method: 'lora' } },
        { id: 'eval', agent: 'evaluate' },
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
