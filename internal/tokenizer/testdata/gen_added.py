#!/usr/bin/python3
"""Builds tokenizer.json files with added tokens that use lstrip / rstrip / single_word / normalized
flags, on a small byte-level BPE (GPT-2's 256 byte tokens and first 2000 merges) and on llama-legacy,
plus added_texts.jsonl; gen_goldens.py encodes them with HF tokenizers.
"""
import json, os

HERE = os.path.dirname(os.path.abspath(__file__))
GPT2 = os.path.normpath(os.path.join(HERE, "../../../../shared/assets/tokenizers/gpt2/tokenizer.json"))

ADDED = [
    {"content": "<mask>", "single_word": False, "lstrip": True, "rstrip": False, "normalized": False, "special": True},
    {"content": "<r>", "single_word": False, "lstrip": False, "rstrip": True, "normalized": False, "special": True},
    {"content": "[W]", "single_word": True, "lstrip": False, "rstrip": False, "normalized": False, "special": False},
    {"content": "hello world", "single_word": False, "lstrip": False, "rstrip": False, "normalized": True, "special": False},
    {"content": "<|im_start|>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
    {"content": "<|im", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
    {"content": "Both", "single_word": True, "lstrip": True, "rstrip": True, "normalized": False, "special": False},
]
TEXTS = [
    "a <mask> b", "a   <mask>b", "<mask>", "  <mask>  ", "x<mask><mask>y",
    "a <r>   b", "<r>\n\nz", "<r>",
    "[W] word", "x[W]y", "a [W]", "[W][W]", "é[W] ", "_[W]",
    "say hello world now", "Hello World", "hello  world", "hello world!",
    "<|im_start|>user", "<|im_end|>", "<|imx", "<|im_start", "a<|im_start|><|im",
    "Both sides", "  Both  ", "xBoth", "Both", "a Both b <mask> <r> [W] hello world",
]


def with_added(tj, start_id):
    added = list(tj.get("added_tokens", []))
    for i, a in enumerate(ADDED):
        added.append(dict(a, id=start_id + i))
    tj["added_tokens"] = added
    return tj


def main():
    g = json.load(open(GPT2, encoding="utf-8"))
    vocab = {k: v for k, v in g["model"]["vocab"].items() if v < 256}
    merges = []
    for m in g["model"]["merges"]:
        a, b = m.split(" ") if isinstance(m, str) else m
        if a in vocab and b in vocab and len(merges) < 2000:
            vocab.setdefault(a + b, len(vocab))
            merges.append([a, b])
    small = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
             "normalizer": None,
             "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
             "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
             "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
             "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                       "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": merges}}
    outs = {"added-bytelevel": with_added(small, len(vocab))}
    legacy = json.load(open(os.path.join(HERE, "llama-legacy", "tokenizer.json"), encoding="utf-8"))
    outs["added-legacy"] = with_added(legacy, len(legacy["model"]["vocab"]))
    for name, tj in outs.items():
        os.makedirs(os.path.join(HERE, name), exist_ok=True)
        with open(os.path.join(HERE, name, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False)
    with open(os.path.join(HERE, "added_texts.jsonl"), "w", encoding="utf-8") as f:
        for t in TEXTS:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
