#!/usr/bin/env python3
"""Prints a GGUF file's metadata and tensor table, for FileCheck.

  gguf_info.py [--digest] FILE

One line per metadata key ("kv NAME = VALUE"; arrays as "[TYPE x COUNT]")
then one per tensor ("tensor NAME TYPE [d0, d1]", dims in PyTorch order,
i.e. ggml's reversed). With --digest, each tensor line ends with
"sha256=" and the first 16 hex digits of the SHA-256 of its data, so two
files' tensors can be compared byte for byte. Standard library only;
written from the GGUF v3 specification, independently of qopt's reader.
"""

import hashlib
import struct
import sys

GGML_TYPES = {0: "f32", 1: "f16", 2: "q4_0", 8: "q8_0", 10: "q2_k",
              11: "q3_k", 12: "q4_k", 13: "q5_k", 14: "q6_k", 30: "bf16"}
# Elements and bytes per block of each type (ggml's type traits).
BLOCKS = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 10: (256, 84),
          11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210),
          30: (1, 2)}
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f",
           7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, data):
        self.data = data
        self.at = 0

    def take(self, fmt):
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return value

    def string(self):
        n = self.take("<Q")
        s = self.data[self.at:self.at + n].decode("utf-8", "replace")
        self.at += n
        return s

    def value(self, vtype):
        if vtype in SCALARS:
            return self.take(SCALARS[vtype])
        if vtype == 8:
            return self.string()
        if vtype == 9:
            etype = self.take("<I")
            count = self.take("<Q")
            for _ in range(count):
                self.value(etype)
            return "[%d x %d]" % (etype, count)
        raise ValueError("unknown GGUF value type %d" % vtype)


def main():
    args = sys.argv[1:]
    digest = "--digest" in args
    args = [a for a in args if a != "--digest"]
    with open(args[0], "rb") as f:
        r = Reader(f.read())
    if r.data[:4] != b"GGUF":
        print("not a GGUF file")
        return 1
    r.at = 4
    version = r.take("<I")
    num_tensors = r.take("<Q")
    num_kvs = r.take("<Q")
    print("version %d tensors %d kvs %d" % (version, num_tensors, num_kvs))
    alignment = 32
    for _ in range(num_kvs):
        key = r.string()
        value = r.value(r.take("<I"))
        if key == "general.alignment":
            alignment = value
        if isinstance(value, float):
            value = "%g" % value
        print("kv %s = %s" % (key, value))
    tensors = []
    for _ in range(num_tensors):
        name = r.string()
        dims = [r.take("<Q") for _ in range(r.take("<I"))]
        ggml_type = r.take("<I")
        offset = r.take("<Q")
        tensors.append((name, dims, ggml_type, offset))
    data_start = (r.at + alignment - 1) // alignment * alignment
    for name, dims, ggml_type, offset in tensors:
        line = "tensor %s %s [%s]" % (
            name, GGML_TYPES.get(ggml_type, str(ggml_type)),
            ", ".join(str(d) for d in reversed(dims)))
        if digest:
            count = 1
            for d in dims:
                count *= d
            per_block, block_bytes = BLOCKS[ggml_type]
            start = data_start + offset
            data = r.data[start:start + count // per_block * block_bytes]
            line += " sha256=" + hashlib.sha256(data).hexdigest()[:16]
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
