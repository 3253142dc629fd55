#!/usr/bin/python3
"""Regenerates the golden ids in this folder from the reference tokenizers (never run by tests).

  /usr/bin/python3 gen_goldens.py [--reftok /tmp/reftok]

Needs: /work/shared/tools/reference/tok copied to --reftok with `npm install` done there (Hugging Face
tokenizers 0.22 via npm @anush008/tokenizers 0.6.0) and Debian python3-sentencepiece.
Writes <name>.golden.jsonl: line i holds {"plain": ids, "special": ids} for texts.jsonl line i, and
big.sha256.json: sha256 over the ids (as decimal, comma-separated) of the whole of wiki_demo.txt.
"""
import argparse, hashlib, json, os, subprocess, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.path.normpath(os.path.join(HERE, "../../../../shared/assets"))
TOK = os.path.join(ASSETS, "tokenizers")
SPM = os.path.normpath(os.path.join(HERE, "../../../../shared/tools/reference/tok/spm_encode.py"))
HF = {"gpt2": f"{TOK}/gpt2", "smollm2-135m": f"{TOK}/smollm2-135m", "qwen3": f"{TOK}/qwen3",
      "llama-legacy": f"{HERE}/llama-legacy", "llama-metaspace": f"{HERE}/llama-metaspace",
      "llama3-style": f"{HERE}/llama3-style"}
SP = {"stories260K": f"{ASSETS}/models/stories260K", "llama2-spm": f"{TOK}/llama2-spm",
      "spm-unigram": f"{HERE}/spm-unigram", "spm-bpe-nfkc": f"{HERE}/spm-bpe-nfkc"}
BIG = f"{ASSETS}/datasets/llama-factory/wiki_demo.txt"


def run(kind, path, texts_file, special, reftok):
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as out:
        pass
    if kind == "hf":
        cmd = ["node", f"{reftok}/encode.mjs", "--tokenizer", f"{path}/tokenizer.json", "--in", texts_file, "--out", out.name]
    else:
        cmd = ["/usr/bin/python3", SPM, "--model", f"{path}/tokenizer.model", "--in", texts_file, "--out", out.name]
    if special:
        cmd.append("--add-special")
    subprocess.run(cmd, check=True)
    with open(out.name, encoding="utf-8") as f:
        rows = [json.loads(l)["ids"] for l in f if l.strip()]
    os.unlink(out.name)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reftok", default="/tmp/reftok")
    a = ap.parse_args()
    texts = os.path.join(HERE, "texts.jsonl")
    n = sum(1 for _ in open(texts, encoding="utf-8"))
    big = open(BIG, encoding="utf-8").read()
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as bf:
        bf.write(json.dumps({"text": big}, ensure_ascii=False) + "\n")
    sums = {}
    for kind, table in (("hf", HF), ("spm", SP)):
        for name, path in table.items():
            plain = run(kind, path, texts, False, a.reftok)
            special = run(kind, path, texts, True, a.reftok)
            assert len(plain) == n and len(special) == n, (name, len(plain), n)
            with open(os.path.join(HERE, f"{name}.golden.jsonl"), "w") as g:
                for p, s in zip(plain, special):
                    g.write(json.dumps({"plain": p, "special": s}, separators=(",", ":")) + "\n")
            ids = run(kind, path, bf.name, False, a.reftok)[0]
            sums[name] = {"count": len(ids), "sha256": hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()}
    os.unlink(bf.name)
    # Added-token flags: own text set, HF only.
    added_texts = os.path.join(HERE, "added_texts.jsonl")
    for name in ("added-bytelevel", "added-legacy"):
        plain = run("hf", f"{HERE}/{name}", added_texts, False, a.reftok)
        special = run("hf", f"{HERE}/{name}", added_texts, True, a.reftok)
        with open(os.path.join(HERE, f"{name}.golden.jsonl"), "w") as g:
            for p, s in zip(plain, special):
                g.write(json.dumps({"plain": p, "special": s}, separators=(",", ":")) + "\n")
    with open(os.path.join(HERE, "big.sha256.json"), "w") as g:
        json.dump({"file": "datasets/llama-factory/wiki_demo.txt", "ids": sums}, g, indent=1)
        g.write("\n")


if __name__ == "__main__":
    main()
