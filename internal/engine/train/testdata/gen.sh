#!/bin/sh
# Regenerates the DPO goldens with the PyTorch reference (Debian python3-torch
# 1.13). Run from this folder: sh gen.sh
set -eu
REF=${REF:-../../../../../shared/tools/reference}
STORIES=../../../../../shared/assets/models/stories260K
/usr/bin/python3 dpo_ref.py --ref $REF --model $STORIES --pairs dpo_pairs.json --beta 0.5 --std 0.04 --out dpo-stories260K
