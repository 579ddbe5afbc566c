#!/usr/bin/env python3
"""The Python bridge against awkward's own lazy reading, side by side.

    .venv/bin/python benches/data/generate.py /tmp/akdata events
    .venv/bin/pip install ./python
    .venv/bin/python benches/python/bridge.py /tmp/akdata/events [RUNS]

Each figure is the median of RUNS (default 9) after one unmeasured run, the
page cache warm. Every run of a cold case builds its array anew; akbuf's
with a fresh akbuf.Cache, awkward's over a container of callables that
read each buffer file with np.fromfile (awkward's documented lazy path).
"""

import json
import os
import statistics
import sys
import threading
import time

import awkward as ak
import numpy as np

import akbuf


def awkward_lazy(path, counter=None):
    with open(os.path.join(path, "metadata.json")) as f:
        meta = json.load(f)
    lock = threading.Lock()

    def reader(key):
        def read():
            if counter is not None:
                with lock:
                    counter[key] = counter.get(key, 0) + 1
            return np.fromfile(os.path.join(path, key), dtype=np.uint8)

        return read

    keys = [k for k in os.listdir(path) if k != "metadata.json"]
    container = {k: reader(k) for k in keys}
    return ak.from_buffers(ak.forms.from_dict(meta["form"]), meta["length"], container)


def akbuf_lazy(path, cache=None):
    return akbuf.from_buffers(path, cache=cache if cache is not None else akbuf.Cache())


def timed(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def in_threads(n, work):
    barrier = threading.Barrier(n)
    threads = [threading.Thread(target=lambda: (barrier.wait(), work())) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main():
    path = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    want = ak.sum(awkward_lazy(path).jets.pt)
    assert np.isclose(ak.sum(akbuf_lazy(path).jets.pt), want)
    rows = []

    def row(name, ours, theirs):
        rows.append((name, ours, theirs))

    row("open + ak.sum(events.jets.pt), 1 thread",
        timed(lambda: ak.sum(akbuf_lazy(path).jets.pt), runs),
        timed(lambda: ak.sum(awkward_lazy(path).jets.pt), runs))

    def threads8(make):
        events = make()
        in_threads(8, lambda: ak.sum(events.jets.pt))

    row("open + ak.sum(events.jets.pt) in 8 threads at once",
        timed(lambda: threads8(lambda: akbuf_lazy(path)), runs),
        timed(lambda: threads8(lambda: awkward_lazy(path)), runs))

    # a field touched again after it was dropped: akbuf's cache.clear(field)
    # vs a fresh awkward array (awkward has no way to drop one field)
    cache = akbuf.Cache()
    events = akbuf_lazy(path, cache)

    def again_akbuf():
        cache.clear("jets.pt")
        ak.sum(events.jets.pt)

    row("ak.sum(events.jets.pt) after clear(\"jets.pt\") / on a new array",
        timed(again_akbuf, runs),
        timed(lambda: ak.sum(awkward_lazy(path).jets.pt), runs))

    warm_ak = awkward_lazy(path)
    ak.sum(warm_ak.jets.pt)
    row("ak.sum(events.jets.pt) again, warm",
        timed(lambda: ak.sum(events.jets.pt), runs),
        timed(lambda: ak.sum(warm_ak.jets.pt), runs))

    counter = {}
    lazy = awkward_lazy(path, counter)
    in_threads(8, lambda: ak.sum(lazy.jets.pt))
    cache = akbuf.Cache()
    ours = akbuf_lazy(path, cache)
    in_threads(8, lambda: ak.sum(ours.jets.pt))

    print(f"{path}: {len(ours)} events; {runs} runs per figure, medians")
    print("| case | akbuf | awkward (np.fromfile callables) | akbuf / awkward |")
    print("|---|---:|---:|---:|")
    for name, a, b in rows:
        print(f"| {name} | {a * 1e3:.1f} ms | {b * 1e3:.1f} ms | {a / b:.2f}x |")
    pt_key = [k for k in counter if k.endswith("-data") and counter[k] >= 1]
    print(f"reads of the jets.pt buffers by 8 threads on one cold array: akbuf {cache.stats()['reads']} "
          f"(keys {cache.read_keys()}), awkward {sum(counter.values())} ({counter})")


if __name__ == "__main__":
    main()
