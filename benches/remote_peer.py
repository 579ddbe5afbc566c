#!/usr/bin/env python3
"""The peer of examples/remote.rs: open a container over HTTP and sum three
fields of `jets`, with awkward 2.14 lazily over fsspec's HTTP filesystem
(fsspec + aiohttp, `cat_file` per buffer, as awkward users read remote
buffers today).

    .venv/bin/python benches/remote_peer.py URL REPS [FIELDS]

FIELDS: the fields of `jets` to sum, comma-separated (default pt,eta,phi).

Each run is a fresh filesystem instance (no fsspec cache) and a fresh
`ak.from_buffers(..., lazy via callables)`; prints one line per run:
`seconds requests bytes sum`.
"""

import json
import sys
import time

import awkward as ak
import fsspec
import numpy as np

assert ak.__version__ == "2.14.0", ak.__version__


def run(url, fields):
    fs = fsspec.filesystem("http", skip_instance_cache=True)
    counts = {"requests": 0, "bytes": 0}

    def cat(path):
        data = fs.cat_file(path)
        counts["requests"] += 1
        counts["bytes"] += len(data)
        return data

    t0 = time.perf_counter()
    meta = json.loads(cat(url + "/metadata.json"))

    class Getter:
        def __getitem__(self, key):
            return lambda: np.frombuffer(cat(f"{url}/{key}"), dtype=np.uint8)

    events = ak.from_buffers(
        meta["form"],
        meta["length"],
        Getter(),
        buffer_key=meta.get("buffer_key", "{form_key}-{attribute}"),
        backend="cpu",
        byteorder=meta.get("byteorder", "<"),
    )
    total = 0.0
    for f in fields:
        total += float(ak.sum(events["jets", f]))
    return time.perf_counter() - t0, counts["requests"], counts["bytes"], total


def main():
    url, reps = sys.argv[1], int(sys.argv[2])
    fields = sys.argv[3].split(",") if len(sys.argv) > 3 else ["pt", "eta", "phi"]
    run(url, fields)  # warm: imports, connection pool code paths
    for _ in range(reps):
        s, n, b, total = run(url, fields)
        print(f"{s:.6f} {n} {b} {total:.6g}", flush=True)


main()
