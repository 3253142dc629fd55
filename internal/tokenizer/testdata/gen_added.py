#!/usr/bin/python3
"""Builds tokenizer.json files with added tokens that use lstrip / rstrip / single_word / normalized
flags, on a small byte-level BPE (GPT-2's 256 byte tokens and first 2000 merges) and on llama-legacy,
plus added_texts.jsonl; and llama3-style/ (the same small BPE with Llama-3's Split regex, ignore_merges
and a <|begin_of_text|> TemplateProcessing). gen_goldens.py encodes them with HF tokenizers.
"""
import json, os

LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
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
    outs = {"added-bytelevel": with_added(json.loads(json.dumps(small)), len(vocab))}
    # Llama-3 style: Split with the Llama-3 regex, ByteLevel without regex, ignore_merges, <|begin_of_text|>.
    l3 = json.loads(json.dumps(small))
    l3["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    l3["model"]["ignore_merges"] = True
    # whole words that merges cannot build, so ignore_merges changes results
    for w in ["Ġthe", "Ġworld", "Hello", "ĠĠĠ", "123"]:
        l3["model"]["vocab"].setdefault(w, len(l3["model"]["vocab"]))
    bot = len(l3["model"]["vocab"])
    l3["added_tokens"] = [{"id": bot, "content": "<|begin_of_text|>", "single_word": False, "lstrip": False,
                           "rstrip": False, "normalized": False, "special": True}]
    l3["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                  {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [bot], "tokens": ["<|begin_of_text|>"]}}}]}
    outs["llama3-style"] = l3
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
