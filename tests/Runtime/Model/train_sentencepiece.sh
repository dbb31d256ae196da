#!/bin/sh
#===- train_sentencepiece.sh - A small SentencePiece model for the tests --===#
#
#   train_sentencepiece.sh OUTDIR TEXT
#
# Trains OUTDIR/sp.model (BPE, 400 pieces, byte fallback) on TEXT with
# Debian's spm_train and writes OUTDIR/ids.txt, TEXT's lines as spm_encode
# encodes them (ids, one line each): the reference SentencePieceTest
# compares qopt's tokenizer with. Any failure exits non-zero.
#
#===------------------------------------------------------------------------===#
set -eu
out="$1"
text="$2"
mkdir -p "$out"
spm_train --input="$text" --model_prefix="$out/sp" --vocab_size=400 \
  --model_type=bpe --byte_fallback=true --character_coverage=1.0 \
  --num_threads=1 --minloglevel=2 > "$out/train.log" 2>&1 ||
  { cat "$out/train.log" >&2; exit 1; }
spm_encode --model="$out/sp.model" --output_format=id < "$text" > "$out/ids.txt"
