#!/usr/bin/env python3
"""Independent reference perplexity of a llama2.c checkpoint under qopt's RTN.

  reference_quant_ppl.py MODEL.bin --tokenizer tok.bin --text FILE
      [--bits C --group G --scheme asym|sym --layout static|nested]
      [--serve R] [--int8-activations]

Reads a llama2.c checkpoint (legacy format: 7 int32 header fields dim,
hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (negative: the
classifier is stored separately), seq_len; then the float32 tensors
token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final,
freq_cis_real, freq_cis_imag, [wcls]) and its tokenizer, encodes BOS + each
line of the text (split at '\\n' only, a '\\r' stays in its line; empty
lines skipped; truncated at seq_len tokens) with llama2.c's BPE, runs the
Llama forward in float64 (interleaved RoPE with theta 1e4, GQA, SwiGLU,
RMSNorm eps 1e-5) and prints {"nll": mean next-token NLL, "tokens": count,
"sequences": lines used, "ppl": exp(nll)} as JSON (the keys of
`qopt-run ppl --json`, so check_ppl.py reads either).

With --bits, wq wk wv wo w1 w2 w3 are first replaced by their RTN
quantization (docs/quantization.md), computed in float32 like QuantMath.h:
groups of G consecutive inputs along each row (G = 0: one group per row;
a shorter last group when G does not divide the row), asymmetric
lo = min(0, min x), hi = max(0, max x), a = (hi - lo) / (2^c - 1),
z = clamp(round(-lo / a), 0, 2^c - 1), or symmetric a = max|x| / (2^(c-1)-1),
z = 2^(c-1); q = clamp(round(x / a) + z, 0, 2^c - 1), round half to even.
--serve R (< c) serves the Matryoshka slice S(q, R) = min((q + 2^(c-R-1)) >>
(c-R), 2^R - 1), dequantized as a * (S * 2^(c-R) - z); otherwise a * (q - z).
The layout changes how qopt stores the codes, not the numbers; it is
accepted so the command lines read like qopt's pipelines.

--int8-activations mirrors qopt's integer matmul path (docs/lowering.md):
the input of each quantized linear whose width is a multiple of 32 is
replaced, per token and block of 32, by sx * q with a = max |x|, sx =
a / 127, q = clamp(roundeven(x * (127 / a)), -127, 127), in float32.

Uses numpy only (Debian's python3-numpy); nothing from qopt.
"""

import argparse
import json
import math
import struct
import sys

import numpy as np


# --------------------------------------------------------------------------
# Checkpoint and tokenizer
# --------------------------------------------------------------------------


def read_checkpoint(path):
    with open(path, "rb") as f:
        data = f.read()
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack(
        "<7i", data[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    head_size = dim // heads
    kv_dim = kv_heads * head_size
    floats = np.frombuffer(data, dtype="<f4", offset=28)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        if pos + n > floats.size:
            sys.exit("%s: truncated checkpoint" % path)
        t = floats[pos:pos + n].reshape(shape)
        pos += n
        return t

    w = {}
    w["emb"] = take(vocab, dim)
    w["rms_att"] = take(layers, dim)
    w["wq"] = take(layers, dim, dim)
    w["wk"] = take(layers, kv_dim, dim)
    w["wv"] = take(layers, kv_dim, dim)
    w["wo"] = take(layers, dim, dim)
    w["rms_ffn"] = take(layers, dim)
    w["w1"] = take(layers, hidden, dim)
    w["w2"] = take(layers, dim, hidden)
    w["w3"] = take(layers, hidden, dim)
    w["rms_final"] = take(dim)
    take(seq_len, head_size // 2)  # freq_cis_real (recomputed)
    take(seq_len, head_size // 2)  # freq_cis_imag
    w["wcls"] = w["emb"] if shared else take(vocab, dim)
    cfg = dict(dim=dim, hidden=hidden, layers=layers, heads=heads,
               kv_heads=kv_heads, vocab=vocab, seq_len=seq_len)
    return cfg, w


def read_tokenizer(path, vocab_size):
    with open(path, "rb") as f:
        data = f.read()
    pos = 4  # max_token_length
    pieces, scores = [], []
    for _ in range(vocab_size):
        score, length = struct.unpack("<fi", data[pos:pos + 8])
        pos += 8
        pieces.append(data[pos:pos + length])
        scores.append(score)
        pos += length
    lookup = {}
    for i, p in enumerate(pieces):
        lookup.setdefault(p, i)  # duplicates: the first one
    return pieces, np.array(scores, dtype=np.float64), lookup


def encode(text, pieces, scores, lookup):
    """llama2.c's encode(): BOS, dummy prefix " ", UTF-8 code points (byte
    fallback at id byte + 3), then repeatedly merge the adjacent pair whose
    concatenation has the best score (the first such pair on ties)."""
    text = text.split(b"\0", 1)[0]
    tokens = [1]
    if text:
        tokens.append(lookup.get(b" ", ord(" ") + 3))
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and (text[j] & 0xC0) == 0x80 and j - i < 4:
            j += 1
        cp = text[i:j]
        if cp in lookup:
            tokens.append(lookup[cp])
        else:
            tokens.extend(b + 3 for b in cp)
        i = j

    def cstr(b):
        return b.split(b"\0", 1)[0]

    def pair_score(a, b):
        idx = lookup.get(cstr(pieces[a]) + cstr(pieces[b]), -1)
        if idx < 0 or not scores[idx] > -1e10:
            return -math.inf, -1
        return scores[idx], idx

    pair = [pair_score(tokens[k], tokens[k + 1]) for k in range(len(tokens) - 1)]
    best = np.array([s for s, _ in pair], dtype=np.float64)
    ids = [m for _, m in pair]
    while best.size:
        k = int(np.argmax(best))  # first maximum, as the strict > in run.c
        if best[k] == -math.inf:
            break
        tokens[k] = ids[k]
        del tokens[k + 1]
        best = np.delete(best, k)
        del ids[k]
        for m in (k - 1, k):
            if 0 <= m < len(tokens) - 1:
                best[m], ids[m] = pair_score(tokens[m], tokens[m + 1])
    return tokens


# --------------------------------------------------------------------------
# Quantization (float32, as QuantMath.h)
# --------------------------------------------------------------------------


def quantize_dequantize(w, bits, group, scheme, serve):
    """RTN-quantizes the rows of a [N, K] float32 weight in groups along K
    and returns the dequantized weight (served at `serve` bits)."""
    n, k = w.shape
    g = k if group == 0 else group
    out = np.empty_like(w, dtype=np.float32)
    top = np.float32(2 ** bits - 1)
    for start in range(0, k, g):
        x = w[:, start:start + g].astype(np.float32)
        lo = np.minimum(np.float32(0), x.min(axis=1))
        hi = np.maximum(np.float32(0), x.max(axis=1))
        if scheme == "sym":
            absmax = np.maximum(-lo, hi)
            levels = np.float32(2 ** (bits - 1) - 1)
            scale = np.where(absmax > 0, absmax / levels, np.float32(1))
            zero = np.full_like(scale, np.float32(2 ** (bits - 1)))
        else:
            rng = hi - lo
            scale = np.where(rng > 0, rng / top, np.float32(1))
            zero = np.clip(np.round(-lo / scale), np.float32(0), top)
        scale = scale.astype(np.float32)[:, None]
        zero = zero.astype(np.float32)[:, None]
        q = np.clip(np.round(x / scale) + zero, np.float32(0), top)
        q = q.astype(np.int64)
        if serve is not None and serve < bits:
            shift = bits - serve
            s = np.minimum((q + (1 << (shift - 1))) >> shift, 2 ** serve - 1)
            q = s << shift
        out[:, start:start + g] = scale * (q.astype(np.float32) - zero)
    return out


# --------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------


def rmsnorm(x, w, eps=1e-5):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, heads, head_size, theta=10000.0):
    """Interleaved RoPE on [T, heads * head_size]: pairs (2j, 2j+1) of each
    head rotated by t * theta^(-2j / head_size)."""
    t = x.shape[0]
    freq = theta ** (-np.arange(0, head_size, 2, dtype=np.float64) / head_size)
    ang = np.arange(t, dtype=np.float64)[:, None] * freq[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    x = x.reshape(t, heads, head_size // 2, 2)
    a, b = x[..., 0], x[..., 1]
    out = np.stack([a * cos - b * sin, a * sin + b * cos], axis=-1)
    return out.reshape(t, heads * head_size)


def int8_activations(h):
    """qopt's int8 activation quantization of [T, K] (K a multiple of 32)."""
    t, k = h.shape
    x = h.astype(np.float32).reshape(t, k // 32, 32)
    amax = np.abs(x).max(axis=-1, keepdims=True)
    sx = amax / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(amax == 0, np.float32(0), np.float32(127) / amax)
    q = np.clip(np.rint(x * inv.astype(np.float32)), np.float32(-127),
                np.float32(127))
    return (sx.astype(np.float64) * q).reshape(t, k)


def forward(cfg, w, tokens, int8=False):
    def lin(h, m):
        if int8 and h.shape[1] % 32 == 0:
            h = int8_activations(h)
        return h @ m.T

    dim, heads, kv_heads = cfg["dim"], cfg["heads"], cfg["kv_heads"]
    hs = dim // heads
    t = len(tokens)
    x = w["emb"][tokens].astype(np.float64)
    mask = np.triu(np.full((t, t), -np.inf), k=1)
    for l in range(cfg["layers"]):
        h = rmsnorm(x, w["rms_att"][l])
        q = rope(lin(h, w["wq"][l]), heads, hs).reshape(t, heads, hs)
        k = rope(lin(h, w["wk"][l]), kv_heads, hs).reshape(t, kv_heads, hs)
        v = lin(h, w["wv"][l]).reshape(t, kv_heads, hs)
        rep = heads // kv_heads
        k = np.repeat(k, rep, axis=1)  # head j reads kv head j // rep
        v = np.repeat(v, rep, axis=1)
        s = np.einsum("thd,uhd->htu", q, k) / math.sqrt(hs) + mask
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        s /= s.sum(axis=-1, keepdims=True)
        att = np.einsum("htu,uhd->thd", s, v).reshape(t, dim)
        x = x + lin(att, w["wo"][l])
        h = rmsnorm(x, w["rms_ffn"][l])
        gate, up = lin(h, w["w1"][l]), lin(h, w["w3"][l])
        x = x + lin(gate / (1 + np.exp(-gate)) * up, w["w2"][l])
    x = rmsnorm(x, w["rms_final"])
    return x @ w["wcls"].T


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--text", required=True)
    p.add_argument("--bits", type=int)
    p.add_argument("--group", type=int, default=32)
    p.add_argument("--scheme", choices=("asym", "sym"), default="asym")
    p.add_argument("--layout", choices=("static", "dense", "nested"),
                   default="static")
    p.add_argument("--serve", type=int)
    p.add_argument("--int8-activations", action="store_true")
    args = p.parse_args()
    if args.bits is not None and not 1 <= args.bits <= 8:
        p.error("--bits must be in 1..8")
    if args.scheme == "sym" and args.bits == 1:
        p.error("the symmetric scheme needs at least 2 bits")
    if args.serve is not None:
        if args.bits is None:
            p.error("--serve needs --bits")
        if not 1 <= args.serve <= args.bits:
            p.error("--serve must be in 1..--bits")
    if args.group < 0:
        p.error("--group must be >= 0")
    if args.int8_activations and (args.bits is None or args.group % 32):
        p.error("--int8-activations needs --bits and a --group that is a "
                "multiple of 32 (0: per row)")

    cfg, w = read_checkpoint(args.model)
    w = dict(w)
    if args.bits is not None:
        for name in ("wq", "wk", "wv", "wo", "w1", "w2", "w3"):
            w[name] = np.stack([
                quantize_dequantize(m, args.bits, args.group, args.scheme,
                                    args.serve) for m in w[name]])
    w = {k: v.astype(np.float64) for k, v in w.items()}
    pieces, scores, lookup = read_tokenizer(args.tokenizer, cfg["vocab"])
    with open(args.text, "rb") as f:
        lines = [l for l in f.read().split(b"\n") if l]

    total, count, sequences = 0.0, 0, 0
    for line in lines:
        tokens = encode(line, pieces, scores, lookup)[:cfg["seq_len"]]
        if len(tokens) < 2:
            continue
        logits = forward(cfg, w, tokens, args.int8_activations)[:-1]
        m = logits.max(axis=-1, keepdims=True)
        logz = (m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True)))[:, 0]
        target = np.array(tokens[1:])
        total += float(np.sum(logz - logits[np.arange(len(target)), target]))
        count += len(target)
        sequences += 1
    nll = total / count
    print(json.dumps({"nll": nll, "tokens": count, "sequences": sequences,
                      "ppl": math.exp(nll)}))


if __name__ == "__main__":
    main()
