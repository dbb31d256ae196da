#!/usr/bin/env python3
"""Writes a small ByteLevel BPE tokenizer.json for the qopt-run lit tests.

  make_bytelevel_tokenizer.py OUTDIR

OUTDIR/tokenizer.json has the Llama-3 pre-tokenizer and decoder, GPT-2's
byte alphabet as ids 0-255, the merges below (ids 256-265) and the added
tokens <|begin_of_text|> (266) and <|end_of_text|> (267);
OUTDIR/tokenizer_config.json names them BOS and EOS. 268 tokens in all.

  make_bytelevel_tokenizer.py OUTDIR --qwen64

  make_bytelevel_tokenizer.py OUTDIR --chat

adds Llama-3's chat tokens <|start_header_id|> (268), <|end_header_id|>
(269) and <|eot_id|> (270), and Llama-3 Instruct's chat template in
tokenizer_config.json, for the `qopt-run chat` tests: 271 tokens.

  make_bytelevel_tokenizer.py OUTDIR --qwen64

writes instead a 64-token vocabulary in the form Qwen2 ships (no BOS token,
<|endoftext|> as EOS, the last id) for the small checkpoints of
tests/Inputs/arch: ' ' (as GPT-2's Ġ), a-z, '.', ',' and merges of common
English pairs; text of lowercase letters, spaces and those marks encodes.
Standard library only.
"""

import json
import os
import sys

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"
                r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
                r"\s+(?!\S)|\s+")


def byte_alphabet():
    """GPT-2's bytes_to_unicode()."""
    printable = (list(range(ord("!"), ord("~") + 1)) +
                 list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100)))
    chars, n = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    return chars


def write_files(out, spec, config):
    """Writes OUTDIR/tokenizer.json and OUTDIR/tokenizer_config.json."""
    with open(os.path.join(out, "tokenizer.json"), "w",
              encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False)
    with open(os.path.join(out, "tokenizer_config.json"), "w",
              encoding="utf-8") as f:
        json.dump(config, f)


def write_qwen64(out):
    """The 64-token vocabulary described above."""
    alphabet = byte_alphabet()
    sp = alphabet[ord(" ")]
    vocab = {}
    for c in [sp] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + [".", ","]:
        vocab[c] = len(vocab)
    merges = [("t", "h"), ("th", "e"), (sp, "t"), (sp + "t", "h"),
              (sp + "th", "e"),
              ("a", "n"), (sp, "a"), ("i", "n"), ("e", "r"), ("o", "n"),
              (sp, "s"), ("a", "t"), (sp, "c"), ("e", "n"), ("o", "r"),
              (sp, "w"), ("i", "s"), (sp + "a", "n"), (sp + "an", "d"),
              ("a", "s"), (sp, "o"), ("e", "s"), (sp, "b"), ("l", "l"),
              (sp, "f"), ("o", "u"), (sp, "d"), ("i", "t"), (sp, "m"),
              (sp, "h"), (sp, "i"), (sp, "l"), ("e", "d"), (sp, "r")]
    for left, right in merges:
        assert left in vocab and right in vocab, (left, right)
        vocab[left + right] = len(vocab)
    eos = "<|endoftext|>"
    assert len(vocab) == 63, len(vocab)
    spec = {
        "version": "1.0",
        "added_tokens": [
            {"id": 63, "content": eos, "single_word": False,
             "lstrip": False, "rstrip": False, "normalized": False,
             "special": True}],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False,
             "trim_offsets": False, "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False,
                           "trim_offsets": False, "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False,
                    "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": False, "vocab": vocab,
                  "merges": ["%s %s" % m for m in merges]},
    }
    write_files(out, spec, {"bos_token": None, "eos_token": eos,
                            "add_bos_token": False})


# Meta-Llama-3-8B-Instruct's chat template.
LLAMA3_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
    "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")


def main():
    out = sys.argv[1]
    chat = sys.argv[2:] == ["--chat"]
    if sys.argv[2:] == ["--qwen64"]:
        os.makedirs(out, exist_ok=True)
        write_qwen64(out)
        return
    os.makedirs(out, exist_ok=True)
    alphabet = byte_alphabet()
    vocab = {alphabet[b]: b for b in range(256)}
    sp = alphabet[ord(" ")]
    merges = [("H", "e"), ("l", "l"), ("He", "ll"), ("Hell", "o"),
              (sp, "w"), ("o", "r"), (sp + "w", "or"), ("l", "d"),
              (sp + "wor", "ld"), ("2", "0")]
    for left, right in merges:
        vocab[left + right] = len(vocab)
    added = ["<|begin_of_text|>", "<|end_of_text|>"]
    if chat:
        added += ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    spec = {
        "version": "1.0",
        "added_tokens": [
            {"id": len(vocab) + i, "content": t, "single_word": False,
             "lstrip": False, "rstrip": False, "normalized": False,
             "special": True} for i, t in enumerate(added)],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False,
             "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True,
                           "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True,
                    "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": True, "vocab": vocab,
                  "merges": ["%s %s" % m for m in merges]},
    }
    config = {"bos_token": added[0], "eos_token": added[1]}
    if chat:
        config["chat_template"] = LLAMA3_CHAT_TEMPLATE
    write_files(out, spec, config)


if __name__ == "__main__":
    main()
