#!/usr/bin/env python3
# ===- tests/Runtime/GGUF/data/check_kquant_reference.py - Check the file --===#
#
# Checks kquant-reference.gguf with the standard library only, independently
# of ggml: parses the GGUF header, key/values and tensor infos, checks the
# names, types, shapes, byte sizes and that the aligned offsets tile the data
# section, decodes each K-quant tensor with its own decoders (written from
# ggml's block layouts, in float32 arithmetic) and compares them with the
# tensor's ".ref", and prints max |ref - source| per type and per row.
#
#   python3 check_kquant_reference.py [kquant-reference.gguf]
#
# ===-----------------------------------------------------------------------===#
import os
import struct
import sys

F32, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K = 0, 10, 11, 12, 13, 14
TYPE_NAMES = {F32: "F32", Q2_K: "Q2_K", Q3_K: "Q3_K", Q4_K: "Q4_K",
              Q5_K: "Q5_K", Q6_K: "Q6_K"}
# (elements per block, bytes per block)
BLOCKS = {F32: (1, 4), Q2_K: (256, 84), Q3_K: (256, 110), Q4_K: (256, 144),
          Q5_K: (256, 176), Q6_K: (256, 210)}
NE0, NE1 = 512, 4


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def f16(b, o):
    return struct.unpack_from("<e", b, o)[0]


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def get(self, fmt):
        vals = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return vals[0] if len(vals) == 1 else vals

    def string(self):
        n = self.get("Q")
        s = self.data[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def value(self, t):
        scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f",
                  7: "?", 10: "Q", 11: "q", 12: "d"}
        if t in scalar:
            return self.get(scalar[t])
        if t == 8:
            return self.string()
        if t == 9:
            at, n = self.get("I"), self.get("Q")
            return [self.value(at) for _ in range(n)]
        raise ValueError("unknown GGUF value type %d" % t)


def scale_min_k4(j, s):
    if j < 4:
        return s[j] & 63, s[j + 4] & 63
    return ((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4))


def dequant_q2_k(b):
    scales, qs = b[0:16], b[16:80]
    d, dmin = f16(b, 80), f16(b, 82)
    y, k = [], 0
    for n in range(2):
        q = qs[32 * n:32 * n + 32]
        for shift in (0, 2, 4, 6):
            for half in range(2):
                sc = scales[k]
                k += 1
                dl, ml = f32(d * (sc & 0xF)), f32(dmin * (sc >> 4))
                for l in range(16):
                    y.append(f32(dl * ((q[16 * half + l] >> shift) & 3) - ml))
    return y


def dequant_q3_k(b):
    hm, qs, s = b[0:32], b[32:96], b[96:108]
    d = f16(b, 108)
    sc = []
    for j in range(16):
        low = s[j % 8] & 0xF if j < 8 else s[j % 8] >> 4
        high = (s[8 + j % 4] >> (2 * (j // 4))) & 3
        sc.append((low | (high << 4)) - 32)
    y, k, m = [], 0, 1
    for n in range(2):
        q = qs[32 * n:32 * n + 32]
        for shift in (0, 2, 4, 6):
            for half in range(2):
                dl = f32(d * sc[k])
                k += 1
                for l in range(16):
                    i = 16 * half + l
                    v = ((q[i] >> shift) & 3) - (0 if hm[i] & m else 4)
                    y.append(f32(dl * v))
            m <<= 1
    return y


def dequant_q45_k(b, five):
    d, dmin, s = f16(b, 0), f16(b, 2), b[4:16]
    qh, ql = (b[16:48], b[48:176]) if five else (None, b[16:144])
    y = []
    for g in range(4):
        q = ql[32 * g:32 * g + 32]
        for half in range(2):
            sc, mn = scale_min_k4(2 * g + half, s)
            dl, ml = f32(d * sc), f32(dmin * mn)
            bit = 1 << (2 * g + half)
            for l in range(32):
                v = (q[l] >> (4 * half)) & 0xF
                if five and qh[l] & bit:
                    v += 16
                y.append(f32(dl * v - ml))
    return y


def dequant_q6_k(b):
    ql, qh = b[0:128], b[128:192]
    sc = struct.unpack_from("<16b", b, 192)
    d = f16(b, 208)
    y = []
    for n in range(2):
        L, H, S = ql[64 * n:], qh[32 * n:], sc[8 * n:]
        out = [0.0] * 128
        for l in range(32):
            i = l // 16
            q1 = ((L[l] & 0xF) | (((H[l] >> 0) & 3) << 4)) - 32
            q2 = ((L[l + 32] & 0xF) | (((H[l] >> 2) & 3) << 4)) - 32
            q3 = ((L[l] >> 4) | (((H[l] >> 4) & 3) << 4)) - 32
            q4 = ((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)) - 32
            out[l] = f32(f32(d * S[i]) * q1)
            out[l + 32] = f32(f32(d * S[i + 2]) * q2)
            out[l + 64] = f32(f32(d * S[i + 4]) * q3)
            out[l + 96] = f32(f32(d * S[i + 6]) * q4)
        y += out
    return y


DEQUANT = {Q2_K: dequant_q2_k, Q3_K: dequant_q3_k,
           Q4_K: lambda b: dequant_q45_k(b, False),
           Q5_K: lambda b: dequant_q45_k(b, True), Q6_K: dequant_q6_k}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "kquant-reference.gguf")
    data = open(path, "rb").read()
    r = Reader(data)
    magic, version, n_tensors, n_kv = r.get("4sIQQ")
    assert magic == b"GGUF", magic
    kv = {}
    for _ in range(n_kv):
        key = r.string()
        kv[key] = r.value(r.get("I"))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        ne = [r.get("Q") for _ in range(r.get("I"))]
        infos.append((name, ne, r.get("I"), r.get("Q")))
    align = kv.get("general.alignment", 32)
    base = (r.pos + align - 1) // align * align
    print("%s: %d bytes, GGUF v%d, alignment %d, data at %d"
          % (path, len(data), version, align, base))
    for key, val in kv.items():
        print("  kv %s = %r" % (key, val))

    expected = ["source"]
    for t in ("q2_K", "q3_K", "q4_K", "q5_K", "q6_K"):
        expected += [t, t + ".ref"]
    assert [i[0] for i in infos] == expected, [i[0] for i in infos]
    assert "qopt.reference.llama_cpp" in kv

    tensors, next_off = {}, 0
    for name, ne, t, off in infos:
        blck, size = BLOCKS[t]
        nbytes = ne[0] // blck * size * ne[1]
        assert ne == [NE0, NE1], (name, ne)
        assert off == next_off, (name, off, next_off)
        assert off % align == 0, (name, off)
        want = F32 if name == "source" or name.endswith(".ref") else \
            {"q2_K": Q2_K, "q3_K": Q3_K, "q4_K": Q4_K, "q5_K": Q5_K,
             "q6_K": Q6_K}[name]
        assert t == want, (name, t)
        raw = data[base + off:base + off + nbytes]
        assert len(raw) == nbytes
        tensors[name] = (t, raw)
        next_off = (off + nbytes + align - 1) // align * align
        print("  %-9s %-4s %d x %d  %5d bytes at data+%d"
              % (name, TYPE_NAMES[t], ne[0], ne[1], nbytes, off))
    assert base + next_off == len(data), (base + next_off, len(data))

    src = struct.unpack("<%df" % (NE0 * NE1), tensors["source"][1])
    for name in expected[1::2]:
        t, raw = tensors[name]
        ref = struct.unpack("<%df" % (NE0 * NE1), tensors[name + ".ref"][1])
        size = BLOCKS[t][1]
        mine = []
        for blk in range(len(raw) // size):
            mine += DEQUANT[t](raw[blk * size:(blk + 1) * size])
        decode = max(abs(a - b) for a, b in zip(mine, ref))
        exact = sum(a == b for a, b in zip(mine, ref))
        rows = [max(abs(ref[i] - src[i]) for i in range(r * NE0, (r + 1) * NE0))
                for r in range(NE1)]
        print("%-5s max|ref-source| = %.6f  rows: %s  | own decode vs ref: "
              "max diff %.3g, %d/%d bitwise equal"
              % (name, max(rows), " ".join("%.6f" % e for e in rows), decode,
                 exact, len(ref)))
        assert decode <= 1e-6 * max(1.0, max(abs(v) for v in ref))
    print("OK")


if __name__ == "__main__":
    main()
