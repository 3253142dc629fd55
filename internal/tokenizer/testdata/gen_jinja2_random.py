#!/usr/bin/python3
"""Writes jinja2_random.json: random templates mixing text, whitespace, expressions, blocks,
comments and the -/+ whitespace markers, with their output from Python Jinja2 configured like
transformers (chat/gen_chat.py). Deterministic (seeded). Run with /usr/bin/python3 (python3-jinja2)."""
import json, os, random, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "chat"))
from gen_chat import env  # noqa: E402

TEXTS = ["", " ", "  ", "\t", "\n", "\n  ", "  \n", "\n\n", " a ", "b", "c\n", "\n  d", "e  \n  ", "{ ", " }"]


def mark(r, plus):
    return r.choice(["", "", "-"] + (["+"] if plus else []))


def tag(r, kind, body):
    o, c = {"stmt": ("{%", "%}"), "comment": ("{#", "#}"), "expr": ("{{", "}}")}[kind]
    plus = kind != "expr"
    return o + mark(r, plus) + " " + body + " " + mark(r, plus) + c


def seq(r, depth):
    out = []
    for _ in range(r.randint(1, 5)):
        k = r.random()
        if k < 0.4:
            out.append(r.choice(TEXTS))
        elif k < 0.6:
            out.append(tag(r, "expr", r.choice(["x", "y", "x ~ y", "'s'"])))
        elif k < 0.7:
            out.append(tag(r, "comment", "c"))
        elif k < 0.75:
            out.append(tag(r, "stmt", "set z = 1"))
        elif depth < 2:
            if r.random() < 0.5:
                out.append(tag(r, "stmt", "if x") + seq(r, depth + 1) + (tag(r, "stmt", "else") + seq(r, depth + 1) if r.random() < 0.3 else "") + tag(r, "stmt", "endif"))
            else:
                out.append(tag(r, "stmt", "for i in range(2)") + seq(r, depth + 1) + tag(r, "stmt", "endfor"))
    return "".join(out)


def main():
    r = random.Random(1)
    e = env()
    cases = []
    for _ in range(400):
        src = seq(r, 0)
        cases.append({"template": src, "want": e.from_string(src).render(x="X", y=2)})
    with open(os.path.join(HERE, "jinja2_random.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
