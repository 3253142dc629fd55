#!/usr/bin/python3
"""Regenerates the chat-template goldens with Python Jinja2 configured like transformers
(trim_blocks, lstrip_blocks, loopcontrols, ImmutableSandboxedEnvironment, tojson with
ensure_ascii=False, raise_exception, strftime_now). Run with /usr/bin/python3 (python3-jinja2).

Writes <model>/<conversation>.txt (add_generation_prompt=False) and <conversation>.gen.txt (True);
a render that raises is written as "ERROR: message" (the Go side must fail as well).
templates/real-*.jinja are real model chat templates as collected in github.com/ardanlabs/jinja
v1.8.0 testdata (Apache-2.0 repository); features.jinja is written for these tests.
"""
import json, os, re
from datetime import datetime
import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.path.normpath(os.path.join(HERE, "../../../../../shared/assets/tokenizers"))
MODELS = {"smollm2-135m": "smollm2-135m", "qwen3": "qwen3", "qwen2.5": "qwen2.5-instruct-config"}
EXTRA_TEMPLATES = os.path.join(HERE, "templates")


class AssistantTracker(Extension):
    """transformers' {% generation %} block (AssistantTracker): rendered as its body; while tracking,
    records (start, end) character offsets of each block's output like transformers does for
    return_assistant_tokens_mask."""
    tags = {"generation"}

    def __init__(self, environment):
        super().__init__(environment)
        self.blocks = None
        self.indices = None

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        rv = caller()
        if self.blocks is not None:
            start = len("".join(self.blocks))
            self.indices.append((start, start + len(rv)))
        return rv


def render_with_indices(env, t, **kw):
    tracker = env.extensions[AssistantTracker.identifier]
    blocks, indices = [], []
    tracker.blocks, tracker.indices = blocks, indices
    try:
        for b in t.generate(**kw):
            blocks.append(b)
    finally:
        tracker.blocks = tracker.indices = None
    return "".join(blocks), indices


def env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime(2026, 11, 26, 12, 0, 0).strftime(fmt)

    e = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, loopcontrols])
    e.filters["tojson"] = tojson
    e.globals["raise_exception"] = raise_exception
    e.globals["strftime_now"] = strftime_now
    return e


def tokens(cfg):
    out = {}
    for k in ("bos_token", "eos_token", "unk_token", "pad_token"):
        v = cfg.get(k)
        if isinstance(v, dict):
            v = v.get("content")
        if v is not None:
            out[k] = v
    return out


def main():
    convs = json.load(open(os.path.join(HERE, "conversations.json"), encoding="utf-8"))
    e = env()
    sources = {}
    for name, d in MODELS.items():
        cfg = json.load(open(os.path.join(ASSETS, d, "tokenizer_config.json"), encoding="utf-8"))
        sources[name] = (cfg["chat_template"], tokens(cfg))
    if os.path.isdir(EXTRA_TEMPLATES):
        for f in sorted(os.listdir(EXTRA_TEMPLATES)):
            if f.endswith(".jinja"):
                sources[f[:-6]] = (open(os.path.join(EXTRA_TEMPLATES, f), encoding="utf-8").read(),
                                   {"bos_token": "<s>", "eos_token": "</s>"})
    for name, (src, toks) in sources.items():
        try:
            t = e.from_string(src)
        except jinja2.exceptions.TemplateError as ex:
            print(f"skip {name}: does not compile in Jinja2: {ex}")
            continue
        os.makedirs(os.path.join(HERE, name), exist_ok=True)
        for c in convs:
            extra = {k: v for k, v in c.items() if k not in ("name", "messages", "tools")}
            for gen in (False, True):
                path = os.path.join(HERE, name, c["name"] + (".gen" if gen else "") + ".txt")
                try:
                    out = t.render(messages=c["messages"], tools=c.get("tools"), documents=None,
                                   add_generation_prompt=gen, **toks, **extra)
                except Exception as ex:  # the Go side must fail too (messages differ between engines)
                    out = "ERROR: " + str(ex)
                with open(path, "w", encoding="utf-8", newline="") as g:
                    g.write(out)
                if re.search(r"\{%-?\s*generation\s*-?%\}", src) and not out.startswith("ERROR: "):
                    text, idx = render_with_indices(e, t, messages=c["messages"], tools=c.get("tools"), documents=None,
                                                    add_generation_prompt=gen, **toks, **extra)
                    assert text == out
                    with open(path[:-4] + ".spans.json", "w") as g:
                        json.dump(idx, g)


if __name__ == "__main__":
    main()
