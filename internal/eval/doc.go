// Package eval scores language-model outputs: loss and perplexity, the text
// metrics exact match, token F1, ROUGE-L and BLEU, the classification metrics
// accuracy and macro-F1, and an optional LLM judge. It also runs a model over
// an evaluation set (Evaluate), compares two evaluations with paired
// bootstrap confidence intervals (Compare), and renders a comparison as one
// self-contained HTML file (WriteHTML).
//
// The model and tokenizer are consumed through the small Model and Tokenizer
// interfaces declared here, so the metrics and reports do not depend on the
// training engine.
//
// # Metric definitions
//
// Every metric is checked against an independent implementation; see
// testdata/make_reference.py.
//
//   - exact_match, token_f1: SQuAD v1.1's normalize_answer, exact match and
//     bag-of-words F1 (empty answers as in SQuAD v2).
//   - rouge_l: ROUGE-L F-measure with rouge_score's default tokenization.
//   - bleu: BLEU-4 as NLTK computes it; corpus BLEU for the aggregate,
//     smoothed (method1) sentence BLEU per sample.
//   - accuracy, macro_f1: on ClassLabel of output and reference, as
//     scikit-learn's accuracy_score and f1_score(average="macro").
//   - loss, perplexity: mean token cross-entropy over the answer tokens of the
//     validation split, and its exponential.
package eval
