#!/usr/bin/env python3
"""Writes tiny synthetic Llama checkpoints for the qopt-import lit tests.

Standard library only. The weights are deterministic pseudo-random floats;
only the file layouts matter to the tests.

  make_checkpoint.py llama2c OUT.bin [--unshared] [sizes] [--truncate N]
                                     [--header-layers N]
  make_checkpoint.py tokenizer OUT.bin --vocab N
  make_checkpoint.py hf OUTDIR [--config 4|5] [--tied] [--sharded] [sizes]
                               [--break KIND]
  make_checkpoint.py truncate IN OUT --size N

sizes: --dim --hidden --layers --heads --kv-heads --vocab --seq (defaults:
16, 24, 2, 4, 2, 32, 16).

--break KIND (hf) writes a broken checkpoint: header-past-eof,
offsets-out-of-range, missing-tensor, wrong-shape, dtype-i8, dtype-f64,
architecture, bad-json.
"""

import argparse
import json
import os
import struct
import sys


def values(count, seed):
    """`count` pseudo-random floats in [-0.5, 0.5) (an LCG)."""
    state = (seed * 2654435761 + 12345) & 0xFFFFFFFF
    out = []
    for _ in range(count):
        state = (state * 1664525 + 1013904223) & 0xFFFFFFFF
        out.append(state / 4294967296.0 - 0.5)
    return out


def f32_bytes(floats):
    return struct.pack("<%df" % len(floats), *floats)


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def add_sizes(parser):
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=24)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kv-heads", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=32)
    parser.add_argument("--seq", type=int, default=16)


# --------------------------------------------------------------------------
# llama2.c
# --------------------------------------------------------------------------

def write_llama2c(args):
    d, h, L = args.dim, args.hidden, args.layers
    nh, nkv, v, s = args.heads, args.kv_heads, args.vocab, args.seq
    hs = d // nh
    kv = hs * nkv
    header_layers = L if args.header_layers is None else args.header_layers
    header = struct.pack("<7i", d, h, header_layers, nh, nkv,
                         -v if args.unshared else v, s)
    shapes = [
        [v, d],          # token_embedding_table
        [L, d],          # rms_att_weight
        [L, d, d],       # wq
        [L, kv, d],      # wk
        [L, kv, d],      # wv
        [L, d, d],       # wo
        [L, d],          # rms_ffn_weight
        [L, h, d],       # w1
        [L, d, h],       # w2
        [L, h, d],       # w3
        [d],             # rms_final_weight
        [s, hs // 2],    # freq_cis_real
        [s, hs // 2],    # freq_cis_imag
    ]
    if args.unshared:
        shapes.append([v, d])  # wcls
    data = bytearray(header)
    for i, shape in enumerate(shapes):
        tensor = values(numel(shape), i + 1)
        if args.poison is not None and i == 2:
            tensor[0] = float(args.poison)  # wq[0][0][0]: nan or inf
        data += f32_bytes(tensor)
    if args.truncate is not None:
        data = data[:args.truncate]
    with open(args.out, "wb") as f:
        f.write(data)


def write_tokenizer(args):
    """A llama2.c tokenizer.bin: <unk>, <s>, </s>, then short pieces."""
    pieces = [b"<unk>", b"\n<s>\n", b"\n</s>\n"]
    letters = b" abcdefghijklmnopqrstuvwxyz.,!?"
    i = 0
    while len(pieces) < args.vocab:
        c = letters[i % len(letters):i % len(letters) + 1]
        pieces.append(c if i < len(letters) else c * (2 + i // len(letters)))
        i += 1
    out = bytearray(struct.pack("<i", max(len(p) for p in pieces)))
    for n, p in enumerate(pieces):
        out += struct.pack("<fi", -float(n), len(p)) + p
    with open(args.out, "wb") as f:
        f.write(out)


# --------------------------------------------------------------------------
# Hugging Face
# --------------------------------------------------------------------------

def hf_tensors(args):
    """(name, shape) of a Llama checkpoint in transformers' naming."""
    d, h = args.dim, args.hidden
    kv = d // args.heads * args.kv_heads
    names = [("model.embed_tokens.weight", [args.vocab, d])]
    for l in range(args.layers):
        p = "model.layers.%d." % l
        names += [
            (p + "input_layernorm.weight", [d]),
            (p + "self_attn.q_proj.weight", [d, d]),
            (p + "self_attn.k_proj.weight", [kv, d]),
            (p + "self_attn.v_proj.weight", [kv, d]),
            (p + "self_attn.o_proj.weight", [d, d]),
            (p + "post_attention_layernorm.weight", [d]),
            (p + "mlp.gate_proj.weight", [h, d]),
            (p + "mlp.up_proj.weight", [h, d]),
            (p + "mlp.down_proj.weight", [d, h]),
        ]
    names.append(("model.norm.weight", [d]))
    if not args.tied:
        names.append(("lm_head.weight", [args.vocab, d]))
    return names


def hf_config(args):
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": args.dim,
        "intermediate_size": args.hidden,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads,
        "vocab_size": args.vocab,
        "max_position_embeddings": args.seq,
        "rms_norm_eps": 1e-05,
        "hidden_act": "silu",
        "tie_word_embeddings": args.tied,
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    if args.config == "4":
        config.update({"rope_theta": 10000.0, "rope_scaling": None,
                       "torch_dtype": "float32",
                       "transformers_version": "4.46.0"})
    else:
        config.update({"rope_parameters": {"rope_type": "default",
                                           "rope_theta": 500000.0},
                       "dtype": "float32",
                       "transformers_version": "5.0.0"})
    return config


def safetensors_bytes(entries, brk=None):
    """A safetensors file of `entries` [(name, shape, dtype, payload)]."""
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape, dtype, payload in entries:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(payload)]}
        offset += len(payload)
    if brk == "offsets-out-of-range":
        name = entries[-1][0]
        begin = header[name]["data_offsets"][0]
        header[name]["data_offsets"] = [begin + 64, offset + 64]
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    length = len(text)
    if brk == "header-past-eof":
        length = len(text) + offset + 1000
    out = bytearray(struct.pack("<Q", length)) + text
    for _, _, _, payload in entries:
        out += payload
    return out


def write_hf(args):
    os.makedirs(args.out, exist_ok=True)
    brk = args.brk
    config = hf_config(args)
    if brk == "architecture":
        config["architectures"] = ["GPT2LMHeadModel"]
        config["model_type"] = "gpt2"
    with open(os.path.join(args.out, "config.json"), "w") as f:
        if brk == "bad-json":
            f.write(json.dumps(config)[:-10] + ",,}")
        else:
            json.dump(config, f, indent=2)

    entries = []
    for i, (name, shape) in enumerate(hf_tensors(args)):
        if brk == "missing-tensor" and name == "model.layers.1.mlp.up_proj.weight":
            continue
        if brk == "wrong-shape" and name == "model.layers.0.self_attn.k_proj.weight":
            shape = [shape[0] + 1, shape[1]]
        dtype, payload = "F32", f32_bytes(values(numel(shape), i + 1))
        if brk == "dtype-i8" and name == "model.layers.0.mlp.gate_proj.weight":
            dtype, payload = "I8", bytes(numel(shape))
        if brk == "dtype-f64" and name == "model.norm.weight":
            dtype, payload = "F64", struct.pack("<%dd" % numel(shape),
                                                *values(numel(shape), i))
        entries.append((name, shape, dtype, payload))

    if not args.sharded:
        with open(os.path.join(args.out, "model.safetensors"), "wb") as f:
            f.write(safetensors_bytes(entries, brk))
        return
    # Two shards: the embedding and layer 0 in the first, the rest after.
    split = 1 + 9
    shards = [entries[:split], entries[split:]]
    weight_map = {}
    total = 0
    for n, shard in enumerate(shards):
        fname = "model-%05d-of-%05d.safetensors" % (n + 1, len(shards))
        with open(os.path.join(args.out, fname), "wb") as f:
            f.write(safetensors_bytes(shard, brk if n == 1 else None))
        for name, _, _, payload in shard:
            weight_map[name] = fname
            total += len(payload)
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(os.path.join(args.out, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)


def truncate(args):
    with open(args.input, "rb") as f:
        data = f.read()
    with open(args.out, "wb") as f:
        f.write(data[:args.size])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("llama2c")
    p.add_argument("out")
    p.add_argument("--unshared", action="store_true")
    p.add_argument("--truncate", type=int)
    p.add_argument("--header-layers", type=int)
    p.add_argument("--poison", choices=["nan", "inf"],
                   help="make the first weight of layer 0's wq NaN or Inf")
    add_sizes(p)
    p.set_defaults(func=write_llama2c)

    p = sub.add_parser("tokenizer")
    p.add_argument("out")
    p.add_argument("--vocab", type=int, default=32)
    p.set_defaults(func=write_tokenizer)

    p = sub.add_parser("hf")
    p.add_argument("out")
    p.add_argument("--config", choices=["4", "5"], default="4")
    p.add_argument("--tied", action="store_true")
    p.add_argument("--sharded", action="store_true")
    p.add_argument("--break", dest="brk",
                   choices=["header-past-eof", "offsets-out-of-range",
                            "missing-tensor", "wrong-shape", "dtype-i8",
                            "dtype-f64", "architecture", "bad-json"])
    add_sizes(p)
    p.set_defaults(func=write_hf)

    p = sub.add_parser("truncate")
    p.add_argument("input")
    p.add_argument("out")
    p.add_argument("--size", type=int, required=True)
    p.set_defaults(func=truncate)

    args = parser.parse_args()
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
