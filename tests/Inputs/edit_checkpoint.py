#!/usr/bin/env python3
#===- tests/Inputs/edit_checkpoint.py - break a Hugging Face checkpoint ----===#
#
#   edit_checkpoint.py SRC DST [--set KEY=JSON]... [--delete KEY]...
#                      [--drop-tensor NAME]... [--shrink-tensor NAME]...
#
# Copies the Hugging Face checkpoint directory SRC (config.json and one
# model.safetensors) to DST, editing it on the way: --set/--delete change a
# config.json key (KEY may be dotted, "rope_parameters.factor"; JSON is a
# JSON value, "null" included), --drop-tensor leaves a tensor out and
# --shrink-tensor drops the last element of a 1-D tensor (or the last row of
# a matrix), so that its shape is wrong. Used by the invalid-input lit tests.
#
#===------------------------------------------------------------------------===#
import argparse
import json
import os
import struct


def edit_config(config, sets, deletes):
    for item in sets:
        key, value = item.split("=", 1)
        *path, last = key.split(".")
        node = config
        for p in path:
            node = node.setdefault(p, {})
        node[last] = json.loads(value)
    for key in deletes:
        *path, last = key.split(".")
        node = config
        for p in path:
            node = node[p]
        del node[last]
    return config


def edit_safetensors(data, drop, shrink):
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    meta = header.pop("__metadata__", None)
    out_header = {} if meta is None else {"__metadata__": meta}
    payload = bytearray()
    for name, info in sorted(header.items(),
                             key=lambda kv: kv[1]["data_offsets"][0]):
        if name in drop:
            continue
        begin, end = info["data_offsets"]
        blob = body[begin:end]
        shape = list(info["shape"])
        if name in shrink:
            row = len(blob) // shape[0]
            shape[0] -= 1
            blob = blob[:len(blob) - row]
        out_header[name] = {"dtype": info["dtype"], "shape": shape,
                            "data_offsets": [len(payload),
                                             len(payload) + len(blob)]}
        payload += blob
    text = json.dumps(out_header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(payload)


def main():
    parser = argparse.ArgumentParser(
        description="Copy a Hugging Face checkpoint, breaking it on the way.")
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--delete", action="append", default=[])
    parser.add_argument("--drop-tensor", action="append", default=[])
    parser.add_argument("--shrink-tensor", action="append", default=[])
    args = parser.parse_args()
    os.makedirs(args.dst, exist_ok=True)
    with open(os.path.join(args.src, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(args.dst, "config.json"), "w") as f:
        json.dump(edit_config(config, args.set, args.delete), f, indent=2)
    with open(os.path.join(args.src, "model.safetensors"), "rb") as f:
        data = f.read()
    with open(os.path.join(args.dst, "model.safetensors"), "wb") as f:
        f.write(edit_safetensors(data, set(args.drop_tensor),
                                 set(args.shrink_tensor)))


if __name__ == "__main__":
    main()
