#!/usr/bin/env python3
"""Makes the first Q2_K block of one GGUF tensor out of f16's range.

  patch_q2k_block.py SRC DST TENSOR

Copies SRC to DST, rewriting the first 84-byte Q2_K block of TENSOR: its
first sub-block gets scale code 1 and minimum code 15 under d = 2^-14 and
dmin = 250, so that its zero point in qopt's form, m / a = 15 * 250 / 2^-14,
is far above f16's largest value (65504). Used to check that such a matrix
keeps f32 scales under --kquant-scales f16. Standard library only.
"""

import struct
import sys

from gguf_info import Reader

Q2_K = 10


def main():
    src, dst, wanted = sys.argv[1:4]
    with open(src, "rb") as f:
        data = bytearray(f.read())
    r = Reader(bytes(data))
    r.at = 8
    num_tensors = r.take("<Q")
    num_kvs = r.take("<Q")
    alignment = 32
    for _ in range(num_kvs):
        key = r.string()
        value = r.value(r.take("<I"))
        if key == "general.alignment":
            alignment = value
    found = None
    for _ in range(num_tensors):
        name = r.string()
        for _ in range(r.take("<I")):
            r.take("<Q")
        ggml_type = r.take("<I")
        offset = r.take("<Q")
        if name == wanted:
            found = (ggml_type, offset)
    if found is None or found[0] != Q2_K:
        print("no Q2_K tensor '%s' in %s" % (wanted, src), file=sys.stderr)
        return 1
    start = (r.at + alignment - 1) // alignment * alignment + found[1]
    data[start] = (15 << 4) | 1                              # scales[0]
    struct.pack_into("<HH", data, start + 80, 0x0400, 0x5BD0)  # d, dmin
    with open(dst, "wb") as f:
        f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
