#!/usr/bin/python3
"""Renders jinja2_compat.json's cases with Python Jinja2 configured like transformers (see
chat/gen_chat.py: trim_blocks, lstrip_blocks, loopcontrols, tojson = json.dumps(ensure_ascii=False))
and writes jinja2_compat.golden.json: {name: output, or "ERROR: message"}.
Each case renders with messages=[], tools=None, add_generation_prompt=False, bos_token "<s>",
eos_token "</s>" and its own vars. Run with /usr/bin/python3 (python3-jinja2)."""
import json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "chat"))
from gen_chat import env  # noqa: E402


def main():
    cases = json.load(open(os.path.join(HERE, "jinja2_compat.json"), encoding="utf-8"))
    e = env()
    out = {}
    for c in cases:
        try:
            out[c["name"]] = e.from_string(c["template"]).render(
                messages=[], tools=None, add_generation_prompt=False, bos_token="<s>", eos_token="</s>",
                **c.get("vars", {}))
        except Exception as ex:
            out[c["name"]] = "ERROR: " + str(ex)
    with open(os.path.join(HERE, "jinja2_compat.golden.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
