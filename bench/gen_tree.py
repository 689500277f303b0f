#!/usr/bin/env python3
"""Generates a deterministic source tree for the snapshot benchmark.

Default: 10,000 files of 5,000 bytes (50 MB) in 100 directories
(pkgNNN/subN/fileNNN.py), a .gitignore, an ignored debug.log and an
outputs/ folder (50 x 100 KB) that a snapshot must leave out.

The content is text-like (like source code) so zlib compresses it the way it
would compress a real project; a fixed seed makes every run identical.
"""
import argparse
import os
import random


def text_block(rng, size):
    words = ["def", "return", "import", "self", "x", "y", "loss", "model", "for", "in",
             "range", "if", "else", "print", "np", "torch", "lr", "epoch", "batch", "0.01"]
    out = []
    n = 0
    while n < size:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 10)))
        line += " # %08x\n" % rng.getrandbits(32)
        out.append(line)
        n += len(line)
    return "".join(out)[:size]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dest")
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--dirs", type=int, default=100)
    ap.add_argument("--size", type=int, default=5000, help="bytes per file")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    # A pool of blocks keeps generation fast; a per-file header keeps every
    # file distinct, so the store really holds --files blobs.
    pool = [text_block(rng, args.size) for _ in range(64)]
    per_dir = max(1, args.files // args.dirs)
    made = 0
    for d in range(args.dirs):
        folder = os.path.join(args.dest, "pkg%03d" % (d // 10), "sub%d" % (d % 10))
        os.makedirs(folder, exist_ok=True)
        for i in range(per_dir):
            if made >= args.files:
                break
            header = "# file %d of dir %d\n" % (i, d)
            body = pool[(d * 7 + i) % len(pool)]
            data = (header + body)[:args.size]
            with open(os.path.join(folder, "file%03d.py" % i), "w") as f:
                f.write(data)
            made += 1

    with open(os.path.join(args.dest, ".gitignore"), "w") as f:
        f.write("*.log\noutputs/\n__pycache__/\n")
    with open(os.path.join(args.dest, "debug.log"), "w") as f:
        f.write("ignored\n" * 1000)
    outputs = os.path.join(args.dest, "outputs")
    os.makedirs(outputs, exist_ok=True)
    blob = os.urandom(100 * 1024)
    for i in range(50):
        with open(os.path.join(outputs, "ckpt%02d.bin" % i), "wb") as f:
            f.write(blob)
    print("%d files in %d dirs under %s" % (made, args.dirs, args.dest))


if __name__ == "__main__":
    main()
