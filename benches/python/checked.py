#!/usr/bin/env python3
"""What the bridge's check of structural buffers costs, side by side with
reading them: the jets and muons offsets of one container (16 MB each for
the 2,000,000 events of benches/data/generate.py).

    .venv/bin/python benches/python/checked.py /tmp/akdata/events [RUNS]

Per run (the page cache warm): `c[key]()` of a freshly opened container
(akbuf's load: a memory map, the offsets checked: first >= 0, never
decreasing), the same buffer by `np.fromfile` (awkward's eager read), and
one `np.sum` over the loaded values (what any reader pays once). Medians of
RUNS (default 21). The check alone is measured by the Rust example
`checked_read` (get against get_checked).
"""

import os
import statistics
import sys
import time

import numpy as np

import akbuf


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "/tmp/akdata/events"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 21
    keys = [b["key"] for b in akbuf.open(path, cache=akbuf.Cache()).buffers() if b["attribute"] == "offsets"]
    load, fromfile, summed = [], [], []
    for _ in range(runs + 1):
        c = akbuf.open(path, cache=akbuf.Cache())
        t = time.perf_counter()
        arrays = [c[k]() for k in keys]
        load.append(time.perf_counter() - t)
        t = time.perf_counter()
        for a in arrays:
            np.sum(a)
        summed.append(time.perf_counter() - t)
        t = time.perf_counter()
        for k in keys:
            np.fromfile(os.path.join(path, k), dtype="<i8")
        fromfile.append(time.perf_counter() - t)
        del arrays, c
    med = lambda v: statistics.median(v[1:]) * 1e3
    nbytes = sum(os.path.getsize(os.path.join(path, k)) for k in keys)
    print(f"{len(keys)} offsets buffers, {nbytes / 1e6:.1f} MB, {runs} runs (medians)")
    print(f"akbuf c[key]() (map + check)   {med(load):8.3f} ms")
    print(f"np.fromfile (awkward's read)   {med(fromfile):8.3f} ms")
    print(f"np.sum over the loaded values  {med(summed):8.3f} ms")
    print(f"akbuf load / np.fromfile: {med(load) / med(fromfile):.2f}x")


if __name__ == "__main__":
    main()
