#!/usr/bin/env python3
"""The peer of examples/partitions.rs: the same containers through awkward.

    .venv1/bin/python benches/partitions_peer.py DIR   # awkward 1.10.5
    .venv/bin/python  benches/partitions_peer.py DIR   # awkward 2.14

DIR is what `partitions` wrote. With awkward 1 (which has partitioned
arrays): `ak.from_buffers(form, lengths, container, lazy=True)` of the
10,000-partition container (the open), and the sums of x and of y's
contents over every partition of DIR/sum (`lazy=False`: awkward 1 reads
every buffer). With awkward 2: the sums, partition by partition
(`ak.from_buffers(form, n, container, buffer_key="part{i}-...")` over memory
maps, each field touched alone since awkward 2 reads lazily too). Medians of
10 runs after 2 warm ones.
"""

import json
import os
import sys
import time

import awkward as ak
import numpy as np

V1 = ak.__version__.startswith("1.")


class Files:
    """Memory-mapped buffer files, counting reads."""

    def __init__(self, path):
        self.path, self.reads = path, 0

    def __getitem__(self, key):
        self.reads += 1
        return np.memmap(os.path.join(self.path, key), dtype=np.uint8, mode="r")

    def __contains__(self, key):
        return os.path.isfile(os.path.join(self.path, key))


def meta(path):
    with open(os.path.join(path, "metadata.json")) as f:
        m = json.load(f)
    form = ak.forms.Form.fromjson(json.dumps(m["form"])) if V1 else ak.forms.from_dict(m["form"])
    return form, m["length"]


def median(f, reps=10, warm=2):
    for _ in range(warm):
        f()
    t = []
    for _ in range(reps):
        s = time.perf_counter()
        f()
        t.append(time.perf_counter() - s)
    return sorted(t)[len(t) // 2]


def main():
    d = sys.argv[1]
    print(f"awkward {ak.__version__}, numpy {np.__version__}")
    if V1:
        form, lengths = meta(os.path.join(d, "open10k"))
        files = Files(os.path.join(d, "open10k"))
        t = median(lambda: ak.from_buffers(form, lengths, files, lazy=True), reps=5, warm=1)
        print(f"open 10k partitions (lazy=True): median {t * 1e3:.1f} ms, {files.reads} buffer reads")
    form, lengths = meta(os.path.join(d, "sum"))
    files = Files(os.path.join(d, "sum"))

    def sum_v1(field):
        a = ak.from_buffers(form, lengths, files)
        return sum(float(np.sum(np.asarray(ak.flatten(p[field], axis=None)))) for p in a.layout.partitions)

    def sum_v2(field):
        total = 0.0
        for i, n in enumerate(lengths):
            a = ak.from_buffers(form, n, files, buffer_key=f"part{i}-{{form_key}}-{{attribute}}")
            total += float(np.sum(ak.flatten(a[field], axis=None)))
        return total

    for field in ["x", "y"]:
        f = (lambda: sum_v1(field)) if V1 else (lambda: sum_v2(field))
        t = median(f)
        print(f"sum {field} over {len(lengths)} partitions: median {t * 1e3:.1f} ms (one thread)")


if __name__ == "__main__":
    sys.exit(main())
