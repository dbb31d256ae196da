#!/usr/bin/env python3
"""Writes the seed corpora and fixtures of the qopt fuzz targets.

  make_seeds.py OUT --gguf-convert PATH [--tools BIN_DIR | --readers-only]

OUT/fixtures/ holds the valid files some targets combine with their input
(QOPT_FUZZ_FIXTURES); OUT/seeds/TARGET/ one directory of seeds per target.
Every seed is generated here from tiny synthetic models
(tests/Inputs/make_checkpoint.py), GGUF files written by PATH (a build of
qopt-gguf-convert) and modules written by BIN_DIR/qopt-import; nothing is
copied from elsewhere. --readers-only skips the MLIR seeds.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAKE = os.path.join(ROOT, "tests", "Inputs", "make_checkpoint.py")


def run(*cmd):
    subprocess.run([str(c) for c in cmd], check=True)


def checkpoint(*args):
    run(sys.executable, MAKE, *args)


def tokenizer_json(byte_fallback=True, pair_merges=False):
    """A small BPE tokenizer.json in the Llama/SentencePiece style."""
    sp = "\u2581"
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = 3 + b
    for i, piece in enumerate([sp, "a", "b", "c", sp + "a", "ab", sp + "ab",
                               "bc"]):
        vocab[piece] = 259 + i
    merges = [("b", "c"), ("a", "b"), (sp, "a"), (sp + "a", "b")]
    added = [{"id": i, "content": c, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True}
             for i, c in enumerate(["<unk>", "<s>", "</s>"])]
    return {
        "version": "1.0",
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": sp},
            {"type": "Replace", "pattern": {"String": " "}, "content": sp}]},
        "pre_tokenizer": None,
        "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True,
                  "byte_fallback": byte_fallback, "vocab": vocab,
                  "merges": [list(m) if pair_merges else " ".join(m)
                             for m in merges]},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": sp}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "post_processor": {"type": "TemplateProcessing", "single": [
            {"SpecialToken": {"id": "<s>", "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1],
                                       "tokens": ["<s>"]}}},
    }


def split_mlir(path, out_dir, prefix):
    """The `// -----` chunks of a lit test, one seed each."""
    with open(path) as f:
        chunks = f.read().split("// -----")
    for i, chunk in enumerate(chunks):
        lines = [l for l in chunk.splitlines() if not l.startswith("// RUN")]
        with open(os.path.join(out_dir, "%s-%d.mlir" % (prefix, i)), "w") as f:
            f.write("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--gguf-convert", required=True)
    parser.add_argument("--tools")
    parser.add_argument("--readers-only", action="store_true",
                        help="skip the MLIR seeds (no qopt-import needed)")
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    if not args.readers_only and not args.tools:
        parser.error("--tools is needed for the MLIR seeds")
    fix = os.path.join(out, "fixtures")
    seeds = os.path.join(out, "seeds")
    shutil.rmtree(out, ignore_errors=True)
    targets = ["fuzz-gguf", "fuzz-llama2c", "fuzz-llama2c-tokenizer",
               "fuzz-hf-tokenizer", "fuzz-safetensors", "fuzz-hf-config",
               "fuzz-safetensors-index", "fuzz-manifest", "fuzz-mlir-syntax",
               "fuzz-bytecode"]
    for t in targets:
        os.makedirs(os.path.join(seeds, t))
    os.makedirs(fix)
    tmp = os.path.join(out, "work")
    os.makedirs(tmp)

    def seed(target, name):
        return os.path.join(seeds, target, name)

    # llama2.c checkpoints and tokenizers.
    checkpoint("llama2c", seed("fuzz-llama2c", "shared.bin"))
    checkpoint("llama2c", seed("fuzz-llama2c", "unshared.bin"), "--unshared",
               "--layers", "1")
    checkpoint("tokenizer", seed("fuzz-llama2c-tokenizer", "vocab32.bin"),
               "--vocab", "32")
    checkpoint("tokenizer", seed("fuzz-llama2c-tokenizer", "vocab259.bin"),
               "--vocab", "259")

    # GGUF, converted from the llama2.c checkpoint by qopt-gguf-convert.
    model = os.path.join(tmp, "model.bin")
    tok = os.path.join(tmp, "tok.bin")
    # dim 32: rows long enough for the Q8_0/Q4_0 blocks.
    checkpoint("llama2c", model, "--layers", "1", "--dim", "32", "--hidden",
               "64")
    checkpoint("tokenizer", tok, "--vocab", "32")
    for kind in ["f32", "f16", "q8_0", "q4_0"]:
        run(os.path.abspath(args.gguf_convert), model, "--tokenizer",
            tok, "-o", seed("fuzz-gguf", kind + ".gguf"), "--type", kind)

    # Hugging Face: one file of the directory is the input, the others are
    # fixtures.
    checkpoint("hf", os.path.join(fix, "hf"), "--config", "4")
    checkpoint("hf", os.path.join(fix, "hf-sharded"), "--config", "4",
               "--sharded")
    checkpoint("hf", os.path.join(tmp, "hf5"), "--config", "5", "--tied")
    shutil.copy(os.path.join(fix, "hf", "model.safetensors"),
                seed("fuzz-safetensors", "untied.safetensors"))
    shutil.copy(os.path.join(tmp, "hf5", "model.safetensors"),
                seed("fuzz-safetensors", "tied.safetensors"))
    shutil.copy(os.path.join(fix, "hf", "config.json"),
                seed("fuzz-hf-config", "config4.json"))
    shutil.copy(os.path.join(tmp, "hf5", "config.json"),
                seed("fuzz-hf-config", "config5.json"))
    shutil.copy(os.path.join(fix, "hf-sharded",
                             "model.safetensors.index.json"),
                seed("fuzz-safetensors-index", "index.json"))
    for name, kwargs in [("bytes", {}), ("pairs", {"pair_merges": True}),
                         ("nofallback", {"byte_fallback": False})]:
        with open(seed("fuzz-hf-tokenizer", name + ".json"), "w") as f:
            json.dump(tokenizer_json(**kwargs), f, indent=1)

    # An artifact manifest as ModelRunner::compileToDirectory writes it.
    manifest = {
        "format": "qopt-aot-2", "library": "model.so",
        "weights": "weights.bin", "tokenizer": "tokenizer.bin",
        "config": {"architecture": "llama", "dim": 64, "hidden_dim": 172,
                   "layers": 5, "heads": 8, "kv_heads": 4, "vocab_size": 512,
                   "context": 512, "tied_embeddings": True},
        "kv_type": "f32", "static_positions": 0,
        "target_triple": "x86_64-unknown-linux-gnu",
        "target_cpu": "x86-64-v3", "target_features": ["avx", "avx2", "fma"],
        "weight_table": [{"name": "tok_embeddings", "offset": 0,
                          "bytes": 131072},
                         {"name": "layers.0.wq.codes", "offset": 131072,
                          "bytes": 4096}],
        "width_table": [{"name": "layers.0.wq.codes", "parent_bits": 8,
                         "layer": 0, "role": "q"}]}
    with open(seed("fuzz-manifest", "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)

    # MLIR: qopt-import's output (text and bytecode) and the dialect tests.
    if args.readers_only:
        shutil.rmtree(tmp)
        return
    small = os.path.join(tmp, "small.bin")
    checkpoint("llama2c", small, "--layers", "1", "--dim", "8", "--hidden",
               "8", "--heads", "2", "--kv-heads", "1", "--vocab", "8",
               "--seq", "4")
    qimport = os.path.join(os.path.abspath(args.tools), "qopt-import")
    run(qimport, small, "--emit=mlir", "--elide-weights", "-o",
        seed("fuzz-mlir-syntax", "model.mlir"))
    run(qimport, small, "-o", seed("fuzz-bytecode", "model.mlirbc"))
    run(qimport, model, "-o", seed("fuzz-bytecode", "model-1layer.mlirbc"))
    dialect = os.path.join(ROOT, "tests", "Dialect", "QOpt")
    for name in sorted(os.listdir(dialect)):
        if name.endswith(".mlir"):
            split_mlir(os.path.join(dialect, name),
                       os.path.join(seeds, "fuzz-mlir-syntax"), name[:-5])
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
