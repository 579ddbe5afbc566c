#!/usr/bin/env python3
"""The peer of examples/parquet_import.rs: ak.from_parquet(FILE) (or
ak.from_arrow of an Arrow IPC FILE) + ak.to_buffers, each buffer written to
a file of a fresh folder under TMP (what `akbuf copy FILE OUT/` does);
median of 3; prints `seconds seconds_with_fsync` (the second with every file
synced before it is closed, as akbuf's directory containers are). Writes FILE first with ak.to_parquet of the
container DIR if FILE is missing.

    .venv/bin/python benches/parquet_import_peer.py FILE TMP [DIR]
"""

import json
import os
import shutil
import sys
import time

import awkward as ak
import pyarrow as pa
import pyarrow.ipc

assert ak.__version__ == "2.14.0", ak.__version__


def main():
    path, tmp = sys.argv[1], sys.argv[2]
    if not os.path.exists(path):
        folder = sys.argv[3]
        with open(os.path.join(folder, "metadata.json")) as f:
            meta = json.load(f)
        buffers = {n: open(os.path.join(folder, n), "rb").read() for n in os.listdir(folder) if n != "metadata.json"}
        ak.to_parquet(ak.from_buffers(meta["form"], meta["length"], buffers), path)
    print(f"{run(path, tmp, False):.6f} {run(path, tmp, True):.6f}")


def run(path, tmp, sync):
    times = []
    for i in range(3):
        out = os.path.join(tmp, f"theirs{i}")
        t = time.perf_counter()
        if path.endswith(".parquet"):
            array = ak.from_parquet(path)
        else:
            array = ak.from_arrow(pa.ipc.open_file(pa.memory_map(path)).read_all())
        form, length, container = ak.to_buffers(array)
        os.makedirs(out)
        for key, value in container.items():
            with open(os.path.join(out, key), "wb") as f:
                f.write(value)
                if sync:
                    f.flush()
                    os.fsync(f.fileno())
        with open(os.path.join(out, "metadata.json"), "w") as f:
            json.dump({"form": form.to_dict(), "length": length}, f)
        times.append(time.perf_counter() - t)
        del array, container
        shutil.rmtree(out)
    times.sort()
    return times[1]


main()
