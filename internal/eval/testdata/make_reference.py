#!/usr/bin/python3
"""Generate reference metric values for internal/eval from independent implementations.

Run from the repository root:  /usr/bin/python3 internal/eval/testdata/make_reference.py
Needs Debian's python3-nltk (BLEU) and python3-sklearn (accuracy, macro-F1).
Writes internal/eval/testdata/reference.json.

- BLEU: nltk.translate.bleu_score (sentence_bleu with SmoothingFunction().method1, corpus_bleu unsmoothed),
  tokens from re.findall(r"\\w+|[^\\w\\s]", s.lower()).
- exact match / token F1: the official SQuAD v1.1 evaluation functions (normalize_answer, f1_score,
  exact_match_score), copied verbatim below, with SQuAD v2's rule for empty answers.
- accuracy / macro-F1: sklearn.metrics.accuracy_score and f1_score(average="macro").
"""
import collections, json, re, string, sys, os

import nltk
import sklearn
from nltk.translate.bleu_score import sentence_bleu, corpus_bleu, SmoothingFunction
from sklearn.metrics import f1_score, accuracy_score


# --- SQuAD v1.1 official evaluation script (verbatim functions) ---
def normalize_answer(s):
    def remove_articles(text):
        return re.sub(r'\b(a|an|the)\b', ' ', text)

    def white_space_fix(text):
        return ' '.join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def f1(prediction, ground_truth):
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    if len(prediction_tokens) == 0 or len(ground_truth_tokens) == 0:  # SQuAD v2 rule
        return float(prediction_tokens == ground_truth_tokens)
    common = collections.Counter(prediction_tokens) & collections.Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def em(prediction, ground_truth):
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def toks(s):
    return re.findall(r"\w+|[^\w\s]", s.lower())


PAIRS = [  # (prediction, reference)
    ("The cat sat on the mat.", "the cat sat on the mat"),
    ("A cat was sitting on the mat", "The cat sat on the mat."),
    ("Paris", "paris!"),
    ("the Eiffel Tower is in Paris, France.", "The Eiffel Tower is located in Paris."),
    ("It is a guide to action which ensures that the military always obeys the commands of the party.",
     "It is a guide to action that ensures that the military will forever heed Party commands."),
    ("It is to insure the troops forever hearing the activity guidebook that party direct.",
     "It is a guide to action that ensures that the military will forever heed Party commands."),
    ("Once upon a time, there was a little girl named Lily. She loved to play outside.",
     "Once upon a time there was a little boy named Tim. He loved to play in the park."),
    ("yes", "no"),
    ("", "something"),
    ("", ""),
    ("$100 (approx.) -- the price", "the price is 100"),
    ("blue blue blue blue", "the sky is blue"),
    ("one two", "one two three four five"),
    ("Un café au lait, s'il vous plaît — merci beaucoup ½ l'été", "Un café noir, s'il vous plaît, merci beaucoup ½ pour l'été"),
    ("Einstein developed the theory of relativity in 1905 and 1915.",
     "Albert Einstein developed the theories of special (1905) and general (1915) relativity."),
]

LABELS = [  # (predictions, references)
    (["pos", "neg", "neg", "pos", "neu", "pos", "neg", "neu"],
     ["pos", "neg", "pos", "pos", "neu", "neg", "neg", "pos"]),
    (["a", "a", "a", "a"], ["a", "b", "c", "a"]),
    (["cat", "dog", "bird", "fish"], ["cat", "dog", "cat", "dog"]),
    (["yes", "no", "maybe", "yes", "no"], ["yes", "no", "no", "yes", "yes"]),
]


def main():
    sm = SmoothingFunction().method1
    out = {"generator": "internal/eval/testdata/make_reference.py",
           "nltk": nltk.__version__, "sklearn": sklearn.__version__, "pairs": [], "corpus": {}, "labels": []}
    for p, r in PAIRS:
        hp, hr = toks(p), toks(r)
        # NLTK returns 0 itself when no unigram matches; an empty hypothesis would divide by zero.
        sb = sentence_bleu([hr], hp, smoothing_function=sm) if hp else 0.0
        out["pairs"].append({"pred": p, "ref": r, "exact_match": em(p, r), "token_f1": f1(p, r),
                             "sentence_bleu": sb})
    preds = [p for p, _ in PAIRS if p]
    refs = [r for p, r in PAIRS if p]
    out["corpus"] = {"preds": preds, "refs": refs,
                     "bleu": corpus_bleu([[toks(r)] for r in refs], [toks(p) for p in preds])}
    for p, r in LABELS:
        out["labels"].append({"pred": p, "ref": r, "accuracy": accuracy_score(r, p),
                              "macro_f1": f1_score(r, p, average="macro", zero_division=0)})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
