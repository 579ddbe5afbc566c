#!/usr/bin/env python3
"""akbuf.iterate beside uproot.iterate-style plain slicing of ak.from_buffers.

    .venv/bin/python benches/iterate_peer.py /tmp/akdata/events [REPS]

Each run processes every chunk of rows (about 100 MB of the `jets` buffers
per chunk): the jets' energies from pt, eta and mass, a cut on pt and phi,
sums and counts — every jet field used, as a processor loop does. Rows:

- akbuf.iterate(path, "100 MB", fields=["jets"]), prefetch on (the next
  chunk read in the background while this one is processed) and off;
- awkward alone: `ak.from_buffers` over getters that read each buffer file
  (lazy, as awkward's own container), then `array[a:b]` per step.

Prints medians (seconds) of REPS runs (default 5), fresh caches each run.
"""

import json
import os
import statistics
import sys
import time

import awkward as ak
import numpy as np

import akbuf

assert ak.__version__ == "2.14.0", ak.__version__


def work(chunk):
    j = chunk.jets
    p = j.pt * np.cosh(j.eta)
    energy = np.sqrt(p**2 + j.mass**2)
    hard = energy[(j.pt > 30) & (abs(j.phi) < 3)]
    return float(ak.sum(energy)) + float(ak.sum(hard)) + int(ak.sum(ak.num(hard)))


def with_akbuf(path, prefetch):
    total = 0.0
    for chunk in akbuf.iterate(path, step_size="100 MB", fields=["jets"],
                               cache=akbuf.Cache(), prefetch=prefetch):
        total += work(chunk)
    return total


def with_awkward(path, rows):
    with open(os.path.join(path, "metadata.json")) as f:
        meta = json.load(f)

    class Files:
        def __getitem__(self, key):
            return lambda: np.fromfile(os.path.join(path, key), dtype=np.uint8)

    array = ak.from_buffers(meta["form"], meta["length"], Files(), backend="cpu")
    total = 0.0
    for a in range(0, len(array), rows):
        total += work(array[a:a + rows][["jets"]])
    return total


def main():
    path = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    c = akbuf.open(path, cache=akbuf.Cache())
    rows, _ = akbuf._step_rows(c, "100 MB", ["jets"])
    times = {"akbuf.iterate (prefetch)": [], "akbuf.iterate (no prefetch)": [],
             "ak.from_buffers + slices": []}
    results = set()
    for _ in range(reps):
        for name, run in [("akbuf.iterate (prefetch)", lambda: with_akbuf(path, True)),
                          ("akbuf.iterate (no prefetch)", lambda: with_akbuf(path, False)),
                          ("ak.from_buffers + slices", lambda: with_awkward(path, rows))]:
            t = time.perf_counter()
            results.add(round(run(), 0))
            times[name].append(time.perf_counter() - t)
    print(f"{path}: {len(c.keys())} buffers, {rows} rows per step, {reps} runs, medians; results {sorted(results)}")
    base = statistics.median(times["ak.from_buffers + slices"])
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"| {name} | {m * 1e3:.0f} ms | {base / m:.2f}x |")


if __name__ == "__main__":
    main()
