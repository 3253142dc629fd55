#!/usr/bin/python3
"""Trains two small SentencePiece models for tests (Debian python3-sentencepiece), from the first 400 kB
of wiki_demo.txt split into sentences:
  spm-unigram/tokenizer.model    Unigram, 600 pieces, nmt_nfkc normalization, user-defined <tool> and http
  spm-bpe-nfkc/tokenizer.model   BPE, 500 pieces, nmt_nfkc_cf (case folding), no byte fallback (unk),
                                 remove_extra_whitespaces=false
Their goldens come from spm_encode.py via gen_goldens.py.
"""
import os, re, tempfile
import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
WIKI = os.path.normpath(os.path.join(HERE, "../../../../shared/assets/datasets/llama-factory/wiki_demo.txt"))

t = open(WIKI, encoding="utf-8").read()[:400000]
with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
    f.write("\n".join(s for s in re.split(r"(?<=[.!?])\s+", t) if s.strip()))
for name, args in {
    "spm-unigram": dict(vocab_size=600, model_type="unigram", normalization_rule_name="nmt_nfkc",
                        user_defined_symbols=["<tool>", "http"], character_coverage=0.995),
    "spm-bpe-nfkc": dict(vocab_size=500, model_type="bpe", normalization_rule_name="nmt_nfkc_cf",
                         character_coverage=0.99, split_digits=True, remove_extra_whitespaces=False),
}.items():
    os.makedirs(os.path.join(HERE, name), exist_ok=True)
    prefix = os.path.join(tempfile.gettempdir(), name)
    spm.SentencePieceTrainer.train(input=f.name, model_prefix=prefix, minloglevel=2, num_threads=1, **args)
    os.replace(prefix + ".model", os.path.join(HERE, name, "tokenizer.model"))
    os.unlink(prefix + ".vocab")
os.unlink(f.name)
