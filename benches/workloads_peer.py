#!/usr/bin/env python3
"""The Python peers of the issue #7 workloads, on the same data as
`cargo run --profile profiling -p akbuf-bench --example workloads -- DATA_DIR`.

    .venv/bin/python benches/workloads_peer.py DATA_DIR

- awkward 2.14 lazily: `ak.from_buffers` over a container whose values are
  callables reading one buffer file each (`np.fromfile`), so a buffer is read
  only when awkward first touches it (W1 to W5).
- pyarrow: `feather.read_table(events.arrow, columns=["jets"], memory_map=True)`
  (zero copy, projected), then `jets.pt` through pyarrow.compute (W1 to W3).

Timed inside the process after the imports, after warm-up repetitions, with
the same repetition counts as the Rust program. Prints a table and merges the
figures into BENCHMARKS.json (contenders "awkward" and "pyarrow").
"""

import json
import os
import platform
import sys
import time

import awkward as ak
import numpy as np

assert ak.__version__ == "2.14.0", ak.__version__

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Files:
    """A lazy container: each value is a callable that reads one file."""

    def __init__(self, folder):
        self.folder = folder
        self.bytes = 0

    def __getitem__(self, key):
        def read():
            data = np.fromfile(os.path.join(self.folder, key), dtype=np.uint8)
            self.bytes += data.nbytes
            return data

        return read


def ak_open(folder):
    with open(os.path.join(folder, "metadata.json")) as f:
        meta = json.load(f)
    files = Files(folder)
    array = ak.from_buffers(ak.forms.from_dict(meta["form"]), meta["length"], files)
    return array, files


def measure(warm, reps, per, f):
    for _ in range(warm):
        f()
    times, nbytes = [], 0
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(per):
            nbytes = f()
        times.append((time.perf_counter() - start) / per)
    times.sort()
    return {"median_s": times[len(times) // 2], "min_s": times[0], "max_s": times[-1], "bytes_read": int(nbytes)}


def main():
    data = sys.argv[1]
    events, wide, big = (os.path.join(data, n) for n in ("events", "wide", "big"))
    rows = []

    def w1():
        return ak_open(events)[1].bytes

    rows.append(("W1", "awkward", measure(5, 101, 1, w1)))

    sums = {}

    def w2():
        array, files = ak_open(events)
        sums["awkward"] = float(ak.sum(array.jets.pt))
        return files.bytes

    rows.append(("W2", "awkward", measure(3, 21, 1, w2)))

    opened, files = ak_open(events)
    np.asarray(opened.jets.pt.layout.content.data)
    before = files.bytes

    def w3():
        np.asarray(opened.jets.pt.layout.content.data)
        return files.bytes - before

    rows.append(("W3", "awkward", measure(3, 101, 10, w3)))

    def w4():
        array, files = ak_open(wide)
        float(ak.sum(array["f1000"]))
        return files.bytes

    rows.append(("W4", "awkward", measure(2, 11, 1, w4)))

    def w5():
        array, files = ak_open(big)
        sums["awkward W5"] = float(ak.sum(array))
        return files.bytes

    rows.append(("W5", "awkward", measure(1, 5, 1, w5)))

    arrow = os.path.join(data, "events.arrow")
    if os.path.exists(arrow):
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.feather as feather

        def p1():
            feather.read_table(arrow, columns=["jets"], memory_map=True)
            return 0

        rows.append(("W1", "pyarrow", measure(5, 101, 1, p1)))

        def pt_of(table):
            jets = table.column("jets")
            return pc.struct_field(pc.list_flatten(jets), "pt")

        def p2():
            table = feather.read_table(arrow, columns=["jets"], memory_map=True)
            sums["pyarrow"] = pc.sum(pt_of(table)).as_py()
            return table.nbytes

        rows.append(("W2", "pyarrow", measure(3, 21, 1, p2)))

        table = feather.read_table(arrow, columns=["jets"], memory_map=True)

        def p3():
            pt_of(table)
            return 0

        rows.append(("W3", "pyarrow", measure(3, 101, 10, p3)))

    print(f"sums: {sums}")
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}")
    print(f"{'':4} {'contender':<12} {'median':>12} {'min':>12} {'max':>12} {'bytes read':>12}")
    for w, who, s in rows:
        print(
            f"{w:4} {who:<12} {s['median_s'] * 1e3:>9.3f} ms {s['min_s'] * 1e3:>9.3f} ms "
            f"{s['max_s'] * 1e3:>9.3f} ms {s['bytes_read']:>12}"
        )

    path = os.path.join(ROOT, "BENCHMARKS.json")
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        doc = {}
    doc["python_machine"] = machine
    doc.setdefault("workloads", {})
    for w, who, s in rows:
        doc["workloads"].setdefault(w, {})[who] = s
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
