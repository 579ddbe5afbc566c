#!/usr/bin/env python3
"""The peer of examples/slice_read.rs: `events[a:b].jets.pt` with awkward 2.14.

    .venv/bin/python benches/slice_peer.py DIR

awkward reads lazily (`ak.from_buffers` over a container of callables, each
reading one whole buffer file with np.fromfile when first touched): a slice
still reads each touched buffer whole. Median of 21 runs, each a fresh
`from_buffers`; the bytes are those the callables returned.
"""

import json
import os
import sys
import time

import awkward as ak
import numpy as np

assert ak.__version__ == "2.14.0", ak.__version__


class Files:
    def __init__(self, folder):
        self.folder, self.bytes, self.reads = folder, 0, 0

    def __getitem__(self, key):
        def read():
            data = np.fromfile(os.path.join(self.folder, key), dtype=np.uint8)
            self.bytes += data.nbytes
            self.reads += 1
            return data

        return read


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "/tmp/akdata/events"
    with open(os.path.join(folder, "metadata.json")) as f:
        meta = json.load(f)
    form, n = ak.forms.from_dict(meta["form"]), meta["length"]
    for a, b in [(1_000_000, 1_000_100), (1_000_000, 1_020_000), (500_000, 700_000), (0, n)]:
        times = []
        for _ in range(21):
            files = Files(folder)
            start = time.perf_counter()
            events = ak.from_buffers(form, n, files)
            pt = events[a:b].jets.pt
            total = float(np.sum(ak.to_numpy(ak.flatten(pt, axis=None)).astype(np.float64)))
            times.append(time.perf_counter() - start)
        times.sort()
        print(f"rows {a}..{b}: {times[len(times) // 2] * 1e3:.3f} ms, {files.reads} reads, "
              f"{files.bytes} bytes, sum {total:.1f}")


if __name__ == "__main__":
    sys.exit(main())
