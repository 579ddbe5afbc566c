#!/usr/bin/env python3
"""awkward + h5py's side of the HDF5 benchmark in BENCHMARKS.md.

    .venv/bin/python benches/hdf5_peer.py FILE.h5[:GROUP] [FIELD.PATH] [REPS]

Reads lazily as awkward 2.14 does: `ak.from_buffers` over a container whose
values are callables, each reading its dataset with h5py when awkward first
touches it (the documentation's `LazyGet`, in awkward 2's lazy form). Each
repetition opens the file and group afresh, reads the form and length
attributes, builds the array, takes the field and sums it with `ak.sum`.
Timed inside the process, after the imports, with 3 warm-up repetitions.
"""

import json
import sys
import time

import awkward as ak
import h5py
import numpy as np

assert ak.__version__ == "2.14.0", ak.__version__


class LazyGet:
    def __init__(self, group, log):
        self.group = group
        self.log = log

    def __getitem__(self, key):
        def load():
            data = np.asarray(self.group[key])
            self.log.append(data.nbytes)
            return data

        return load


def once(file, group, path):
    log = []
    with h5py.File(file, "r") as f:
        g = f[group]
        array = ak.from_buffers(
            ak.forms.from_json(g.attrs["form"]), json.loads(g.attrs["length"]), LazyGet(g, log)
        )
        field = array
        for name in path.split("."):
            field = field[name]
        total = ak.sum(field)
    return float(total), sum(log)


def main():
    spec = sys.argv[1]
    path = sys.argv[2] if len(sys.argv) > 2 else "jets.pt"
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    file, _, group = spec.partition(":")
    group = group or "awkward"
    times = []
    for rep in range(reps + 3):
        start = time.perf_counter()
        total, nbytes = once(file, group, path)
        elapsed = time.perf_counter() - start
        if rep >= 3:
            times.append(elapsed)
    times.sort()
    print(
        f"awkward+h5py median {times[len(times) // 2]:.6f} s  min {times[0]:.6f} s  "
        f"max {times[-1]:.6f} s  sum {total:.6e}  bytes read {nbytes}"
    )


if __name__ == "__main__":
    main()
