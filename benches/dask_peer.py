#!/usr/bin/env python3
"""akbuf.dask.from_akbuf beside dask-awkward's own readers of the same data.

    .venv/bin/python benches/dask_peer.py prepare /tmp/akdata/events /tmp/akdata/dask
        the 2,000,000-event sample as 8 partitions of 250,000 rows: an awkward 1
        style partitioned container (akbuf copy --partition-rows) and 8 Parquet
        files (ak.to_parquet of the same slices).
    .venv/bin/python benches/dask_peer.py run /tmp/akdata/dask [REPS]
        dak.sum(events.jets.pt) on a distributed.LocalCluster of 2 worker
        processes (1 thread each, loopback), medians of REPS (default 5):
        - akbuf.dask.from_akbuf(partitioned container), the workers' akbuf
          caches cleared before each run (cold), and kept (warm);
        - dak.from_parquet(folder of 8 files);
        - dak.from_map over awkward's lazy ak.from_buffers of each partition
          (getters reading each buffer file).
"""

import json
import os
import statistics
import subprocess
import sys
import time

import awkward as ak
import dask_awkward as dak
import distributed
import numpy as np

import akbuf
import akbuf.dask
from awkward.typetracer import typetracer_from_form

ROWS = 250_000


def prepare(src, out):
    os.makedirs(out, exist_ok=True)
    akbuf_bin = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "akbuf")
    parts = os.path.join(out, "events.parts")
    if not os.path.exists(parts):
        subprocess.run([akbuf_bin, "copy", src, parts, "--partition-rows", str(ROWS)], check=True)
    pq = os.path.join(out, "events.pq")
    os.makedirs(pq, exist_ok=True)
    events = akbuf.from_buffers(src)
    for i, a in enumerate(range(0, len(events), ROWS)):
        ak.to_parquet(events[a:a + ROWS], os.path.join(pq, f"part{i:02d}.parquet"))


class AwkwardPartition:
    """awkward's own lazy read of partition i of a partitioned container."""

    def __init__(self, path):
        self.path = path
        with open(os.path.join(path, "metadata.json")) as f:
            self.meta = json.load(f)

    def __call__(self, i):
        path, meta = self.path, self.meta

        class Files:
            def __getitem__(self, key):
                return lambda: np.fromfile(os.path.join(path, key), dtype=np.uint8)

        return ak.from_buffers(meta["form"], meta["length"][i], Files(),
                               buffer_key=f"part{i}-{{form_key}}-{{attribute}}", backend="cpu")


def clear():
    akbuf.default_cache().clear()


def run(out, reps):
    parts = os.path.join(out, "events.parts")
    pq = os.path.join(out, "events.pq")
    n = len(akbuf.open(parts, cache=akbuf.Cache()).length)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        def cold_akbuf():
            client.run(clear)
            return dak.sum(akbuf.dask.from_akbuf(parts).jets.pt).compute()

        def warm_akbuf():
            return dak.sum(akbuf.dask.from_akbuf(parts).jets.pt).compute()

        def parquet():
            return dak.sum(dak.from_parquet(pq).jets.pt).compute()

        reader = AwkwardPartition(parts)
        meta = typetracer_from_form(ak.forms.from_dict(reader.meta["form"]))

        def from_map():
            return dak.sum(dak.from_map(reader, list(range(n)), meta=meta).jets.pt).compute()

        runs = {"akbuf.dask.from_akbuf (cold worker caches)": cold_akbuf,
                "akbuf.dask.from_akbuf (warm worker caches)": warm_akbuf,
                "dak.from_parquet": parquet,
                "dak.from_map + ak.from_buffers (lazy)": from_map}
        times = {k: [] for k in runs}
        sums = {}
        for f in runs.values():
            f()  # warm the workers' imports and the page cache
        for _ in range(reps):
            for name, f in runs.items():
                t = time.perf_counter()
                sums[name] = float(f())
                times[name].append(time.perf_counter() - t)
    print(f"{parts}: {n} partitions, 2 workers x 1 thread, {reps} runs, medians; sums {sorted(set(round(s, -2) for s in sums.values()))}")
    base = statistics.median(times["dak.from_parquet"])
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"| {name} | {m * 1e3:.0f} ms | {base / m:.2f}x |")


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2], sys.argv[3])
    else:
        run(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5)
