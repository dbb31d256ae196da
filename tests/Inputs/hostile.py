#!/usr/bin/env python3
"""Turns valid inputs into hostile ones for the hardening tests.

Standard library only; files are edited in place unless an output is named.

  hostile.py nest FILE --depth N
      Adds a member "qopt_nested" holding N nested arrays as the first
      member of the JSON object in FILE (config.json, an index, a manifest,
      a tokenizer.json).
  hostile.py duplicate-key FILE KEY
      Repeats the member KEY of the JSON object in FILE at its end.
  hostile.py safetensors FILE (--duplicate NAME | --overlap NAME |
                               --nest N)
      Rewrites the header of a .safetensors file (the data stays): tensor
      NAME listed twice; NAME's data_offsets moved 4 bytes past the start of
      another tensor of the same byte size; or N nested arrays added.
  hostile.py gguf IN OUT (--set KEY=VALUE | --overlap | --duplicate-tensor |
                          --bad-utf8-name)
      Copies a GGUF file with one change: an integer metadata value set (its
      type kept); the second tensor's data offset set to the first's;
      blk.1.attn_q.weight renamed blk.0.attn_q.weight; or a 0xFF byte in the
      first tensor's name.
  hostile.py text OUT --bytes N
      Writes one line of N bytes of words (and a final newline).
  hostile.py mutants IN OUTDIR --count N [--seed S] [--divisor D]
      Writes N mutated copies of IN (MLIR bytecode, or any binary file) to
      OUTDIR: bytes replaced, runs of 0xFF (varints that never end or
      overflow), cuts, slices deleted or repeated; reproducible with S.
      With D, only the first N / D of them (lit's %{mutant_divisor}: the
      sanitizer build runs a share of the cases).
  hostile.py nest-mlir OUT --depth N
      Writes an MLIR module whose function carries an attribute of N nested
      arrays.
"""

import argparse
import json
import os
import random
import struct
import sys

NESTED_KEY = "qopt_nested"


def nested(depth):
    return "[" * depth + "]" * depth


def insert_first_member(text, member):
    """`member` ("key": value) as the first member of the object `text`."""
    start = text.index("{") + 1
    rest = text[start:].lstrip()
    sep = "" if rest.startswith("}") else ", "
    return text[:start] + member + sep + text[start:]


def cmd_nest(args):
    with open(args.file) as f:
        text = f.read()
    text = insert_first_member(text, '"%s": %s' % (NESTED_KEY,
                                                   nested(args.depth)))
    with open(args.file, "w") as f:
        f.write(text)


def cmd_duplicate_key(args):
    with open(args.file) as f:
        text = f.read()
    value = json.loads(text)[args.key]
    end = text.rindex("}")
    text = text[:end] + ', "%s": %s}' % (args.key, json.dumps(value))
    with open(args.file, "w") as f:
        f.write(text)


def cmd_safetensors(args):
    with open(args.file, "rb") as f:
        data = f.read()
    (length,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + length])
    payload = data[8 + length:]
    if args.overlap:
        entry = header[args.overlap]
        size = entry["data_offsets"][1] - entry["data_offsets"][0]
        other = next(name for name, e in sorted(header.items())
                     if name not in ("__metadata__", args.overlap) and
                     e["data_offsets"][1] - e["data_offsets"][0] == size and
                     e["data_offsets"][1] + 4 <= len(payload))
        begin = header[other]["data_offsets"][0] + 4
        entry["data_offsets"] = [begin, begin + size]
    text = json.dumps(header)
    if args.duplicate:
        end = text.rindex("}")
        text = text[:end] + ', "%s": %s}' % (
            args.duplicate, json.dumps(header[args.duplicate]))
    if args.nest:
        text = insert_first_member(text, '"%s": %s' % (NESTED_KEY,
                                                       nested(args.nest)))
    raw = text.encode()
    raw += b" " * (-len(raw) % 8)
    with open(args.file, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + payload)


# GGUF value types: fixed-size scalars by struct format.
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f",
           7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class GGUF:
    """Where the metadata values and tensor infos of a GGUF file are."""

    def __init__(self, data):
        self.data = data
        self.at = 24
        (num_tensors, num_kvs) = struct.unpack_from("<QQ", data, 8)
        self.kvs = {}  # key -> (value type, offset of the value)
        for _ in range(num_kvs):
            key = self.string()
            (vtype,) = self.take("<I")
            self.kvs[key] = (vtype, self.at)
            self.skip_value(vtype)
        self.tensors = []  # (name offset, name length, offset of offset)
        for _ in range(num_tensors):
            (length,) = struct.unpack_from("<Q", data, self.at)
            name_at = self.at + 8
            self.string()
            (dims,) = self.take("<I")
            self.at += 8 * dims + 4
            self.tensors.append((name_at, length, self.at))
            self.at += 8

    def take(self, fmt):
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return values

    def string(self):
        (length,) = self.take("<Q")
        text = self.data[self.at:self.at + length]
        self.at += length
        return text.decode("utf-8", "replace")

    def skip_value(self, vtype):
        if vtype in SCALARS:
            self.at += struct.calcsize(SCALARS[vtype])
        elif vtype == 8:
            self.string()
        elif vtype == 9:
            (etype, count) = self.take("<IQ")
            for _ in range(count):
                self.skip_value(etype)
        else:
            raise ValueError("unknown GGUF value type %d" % vtype)


def cmd_gguf(args):
    with open(args.input, "rb") as f:
        data = bytearray(f.read())
    gguf = GGUF(data)
    if args.set:
        key, value = args.set.split("=", 1)
        vtype, at = gguf.kvs[key]
        struct.pack_into(SCALARS[vtype], data, at, int(value))
    if args.overlap:
        (_, _, first), (_, _, second) = gguf.tensors[:2]
        data[second:second + 8] = data[first:first + 8]
    if args.duplicate_tensor:
        names = {data[at:at + n].decode(): at for at, n, _ in gguf.tensors}
        at = names["blk.1.attn_q.weight"]
        data[at:at + 19] = b"blk.0.attn_q.weight"
    if args.bad_utf8_name:
        at, _, _ = gguf.tensors[0]
        data[at + 1] = 0xFF
    with open(args.output, "wb") as f:
        f.write(data)


def cmd_text(args):
    words = [b"once", b"upon", b"a", b"time", b"there", b"was", b"little",
             b"girl", b"named", b"lily", b"she", b"loved", b"to", b"play"]
    out = bytearray()
    state = 12345
    while len(out) < args.bytes:
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        out += words[state % len(words)] + b" "
    with open(args.out, "wb") as f:
        f.write(bytes(out[:args.bytes]) + b"\n")


def mutate(data, rng):
    """One random structural mutation of `data`."""
    data = bytearray(data)
    kind = rng.randrange(5)
    pos = rng.randrange(len(data))
    if kind == 0:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:
        run = rng.randint(1, 10)
        data[pos:pos + run] = b"\xff" * run
    elif kind == 2:
        del data[pos:]
    elif kind == 3:
        del data[pos:pos + rng.randint(1, 64)]
    else:
        end = min(len(data), pos + rng.randint(1, 64))
        data[pos:pos] = data[pos:end] * rng.randint(1, 4)
    return bytes(data)


def cmd_mutants(args):
    with open(args.input, "rb") as f:
        data = f.read()
    os.makedirs(args.outdir, exist_ok=True)
    rng = random.Random(args.seed)
    base, ext = os.path.splitext(os.path.basename(args.input))
    for i in range(max(1, args.count // args.divisor)):
        mutated = data
        # The magic stays in most mutants, so that they reach the reader.
        while mutated == data or (i % 8 and not mutated.startswith(data[:4])):
            mutated = mutate(data, rng)
        with open(os.path.join(args.outdir, "%s.%04d%s" % (base, i, ext)),
                  "wb") as f:
            f.write(mutated)


def cmd_nest_mlir(args):
    with open(args.out, "w") as f:
        f.write("func.func private @f() attributes {qopt.nested = %s0%s}\n"
                % ("[" * args.depth, "]" * args.depth))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("nest")
    p.add_argument("file")
    p.add_argument("--depth", type=int, required=True)
    p.set_defaults(func=cmd_nest)

    p = sub.add_parser("duplicate-key")
    p.add_argument("file")
    p.add_argument("key")
    p.set_defaults(func=cmd_duplicate_key)

    p = sub.add_parser("safetensors")
    p.add_argument("file")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--duplicate", metavar="NAME")
    group.add_argument("--overlap", metavar="NAME")
    group.add_argument("--nest", type=int, metavar="N")
    p.set_defaults(func=cmd_safetensors)

    p = sub.add_parser("gguf")
    p.add_argument("input")
    p.add_argument("output")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--set", metavar="KEY=VALUE")
    group.add_argument("--overlap", action="store_true")
    group.add_argument("--duplicate-tensor", action="store_true")
    group.add_argument("--bad-utf8-name", action="store_true")
    p.set_defaults(func=cmd_gguf)

    p = sub.add_parser("text")
    p.add_argument("out")
    p.add_argument("--bytes", type=int, required=True)
    p.set_defaults(func=cmd_text)

    p = sub.add_parser("mutants")
    p.add_argument("input")
    p.add_argument("outdir")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seed", type=int, default=10)
    p.add_argument("--divisor", type=int, default=1)
    p.set_defaults(func=cmd_mutants)

    p = sub.add_parser("nest-mlir")
    p.add_argument("out")
    p.add_argument("--depth", type=int, required=True)
    p.set_defaults(func=cmd_nest_mlir)

    args = parser.parse_args()
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
