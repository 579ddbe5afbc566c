#!/usr/bin/env python3
"""The peer of examples/arrow_export.rs: ak.to_parquet of DIR (awkward 2.14,
its defaults: zstd), median of 3 runs; prints `seconds bytes`.

    .venv/bin/python benches/parquet_peer.py DIR TMP
"""

import json
import os
import sys
import time

import awkward as ak

assert ak.__version__ == "2.14.0", ak.__version__


def main():
    folder, tmp = sys.argv[1], sys.argv[2]
    with open(os.path.join(folder, "metadata.json")) as f:
        meta = json.load(f)
    buffers = {}
    for name in os.listdir(folder):
        if name != "metadata.json":
            with open(os.path.join(folder, name), "rb") as f:
                buffers[name] = f.read()
    array = ak.from_buffers(meta["form"], meta["length"], buffers)
    times, size = [], 0
    for i in range(3):
        out = os.path.join(tmp, f"theirs{i}.parquet")
        t = time.perf_counter()
        ak.to_parquet(array, out)
        times.append(time.perf_counter() - t)
        size = os.path.getsize(out)
        os.remove(out)
    times.sort()
    print(f"{times[1]:.6f} {size}")


main()
