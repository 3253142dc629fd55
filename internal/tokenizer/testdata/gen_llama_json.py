#!/usr/bin/python3
"""Builds Llama-2-style tokenizer.json files from stories260K's tokenizer.model the way transformers'
LlamaConverter does (SentencePieceExtractor merges ordered by piece score; BPE with byte_fallback and
fuse_unk; <s> post-processor), in two flavours:
  llama-legacy/     normalizer Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer (Llama-2, TinyLlama)
  llama-metaspace/  Metaspace pre-tokenizer with prepend_scheme "first" (newer Llama/Mistral exports)
Run with /usr/bin/python3 (python3-sentencepiece); then gen_goldens.py encodes them with HF tokenizers.
"""
import json, os
import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.normpath(os.path.join(HERE, "../../../../shared/assets/models/stories260K/tokenizer.model"))


def main():
    sp = spm.SentencePieceProcessor(model_file=MODEL)
    n = sp.get_piece_size()
    vocab = {sp.id_to_piece(i): i for i in range(n)}
    scores = {sp.id_to_piece(i): sp.get_score(i) for i in range(n)}
    merges = []
    for merge, score in scores.items():
        local = []
        for k in range(1, len(merge)):
            l, r = merge[:k], merge[k:]
            if l in vocab and r in vocab:
                local.append((l, r, score))
        local.sort(key=lambda x: (vocab[x[0]], vocab[x[1]]))
        merges.extend(local)
    merges.sort(key=lambda v: v[2], reverse=True)
    merges = [[l, r] for l, r, _ in merges]
    added = [{"id": i, "content": sp.id_to_piece(i), "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i in (0, 1, 2)]
    model = {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
             "vocab": vocab, "merges": merges}
    post = {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    decoder = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    flavours = {
        "llama-legacy": {"normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
            "pre_tokenizer": None, "decoder": decoder},
        "llama-metaspace": {"normalizer": None,
            "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False},
            "decoder": decoder},
    }
    for name, f in flavours.items():
        os.makedirs(os.path.join(HERE, name), exist_ok=True)
        tj = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
              "normalizer": f["normalizer"], "pre_tokenizer": f["pre_tokenizer"], "post_processor": post,
              "decoder": f["decoder"], "model": model}
        with open(os.path.join(HERE, name, "tokenizer.json"), "w", encoding="utf-8") as g:
            json.dump(tj, g, ensure_ascii=False)
        with open(os.path.join(HERE, name, "tokenizer_config.json"), "w", encoding="utf-8") as g:
            json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True,
                       "add_eos_token": False, "tokenizer_class": "LlamaTokenizer"}, g, indent=1)


if __name__ == "__main__":
    main()
