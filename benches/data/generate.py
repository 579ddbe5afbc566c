#!/usr/bin/env python3
"""Seeded benchmark datasets, written as directory containers with awkward 2.14.

    .venv/bin/python benches/data/generate.py DATA_DIR [events] [wide] [big]

- big:    one float64 NumpyArray of 2**27 values (1 GiB in one buffer).
- events: 2,000,000 events; jets (Poisson(4) per event, 8 fields of
          float32/float64/int), muons (Poisson(2), 6 fields), 10 scalar event
          fields. Also events.arrow, an uncompressed Arrow IPC file of the
          same events (when pyarrow is installed), and events.h5, the same
          events in the HDF5 group "awkward" exactly as Awkward's documentation
          stores them with h5py (when h5py is installed).
- wide:   1,000 entries of a record with 2,000 float64 fields.

With no names, writes all three. Everything comes from numpy's PCG64 with a
fixed seed, so two runs write the same bytes.
"""

import json
import os
import shutil
import sys

import awkward as ak
import numpy as np

assert ak.__version__ == "2.14.0", ak.__version__


def write_container(path, array):
    if os.path.exists(path):
        shutil.rmtree(path)
    os.makedirs(path)
    form, length, container = ak.to_buffers(array)
    with open(os.path.join(path, "metadata.json"), "w") as f:
        json.dump({"form": form.to_dict(), "length": length}, f)
    for key, buf in container.items():
        with open(os.path.join(path, key), "wb") as f:
            np.ascontiguousarray(buf).tofile(f)


def write_hdf5(path, array):
    """As "Saving Awkward Arrays to HDF5" does: one group, one (contiguous,
    uncompressed) dataset per buffer, form and length as string attributes."""
    try:
        import h5py
    except ImportError:
        print(f"h5py not installed: {path} not written")
        return
    with h5py.File(path, "w") as file:
        group = file.create_group("awkward")
        form, length, _ = ak.to_buffers(ak.to_packed(array), container=group)
        group.attrs["form"] = form.to_json()
        group.attrs["length"] = json.dumps(length)


def big(out):
    rng = np.random.default_rng(7)
    data = rng.standard_normal(2**27)
    write_container(os.path.join(out, "big"), ak.Array(data))


def events(out, n=2_000_000):
    rng = np.random.default_rng(42)

    def jagged(counts, fields):
        total = int(counts.sum())
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        rec = ak.contents.RecordArray(
            [ak.contents.NumpyArray(make(total)) for make in fields.values()], list(fields), length=total
        )
        return ak.contents.ListOffsetArray(ak.index.Index64(offsets), rec)

    f32 = lambda scale: (lambda k: (rng.exponential(scale, k)).astype(np.float32))
    f64 = lambda k: rng.standard_normal(k)
    i32 = lambda k: rng.integers(-3, 4, k).astype(np.int32)
    jets = jagged(rng.poisson(4, n), {
        "pt": f32(30.0), "eta": lambda k: rng.uniform(-2.5, 2.5, k).astype(np.float32),
        "phi": lambda k: rng.uniform(-np.pi, np.pi, k).astype(np.float32), "mass": f32(10.0),
        "btag": lambda k: rng.uniform(0, 1, k), "energy": f64,
        "flavour": i32, "nconst": lambda k: rng.integers(1, 60, k).astype(np.int64),
    })
    muons = jagged(rng.poisson(2, n), {
        "pt": f32(20.0), "eta": lambda k: rng.uniform(-2.4, 2.4, k).astype(np.float32),
        "phi": lambda k: rng.uniform(-np.pi, np.pi, k).astype(np.float32),
        "charge": lambda k: rng.choice(np.array([-1, 1], dtype=np.int8), k),
        "iso": f64, "dxy": lambda k: rng.standard_normal(k).astype(np.float32),
    })
    scalars = {
        "run": np.full(n, 1, dtype=np.int32), "event": np.arange(n, dtype=np.int64),
        "lumi": (np.arange(n) // 1000).astype(np.int32), "met": f32(25.0)(n),
        "met_phi": rng.uniform(-np.pi, np.pi, n).astype(np.float32), "ht": f64(n),
        "npv": rng.poisson(30, n).astype(np.int32), "weight": rng.normal(1, 0.1, n),
        "trigger": rng.integers(0, 2**16, n).astype(np.uint16), "rho": f32(15.0)(n),
    }
    fields = list(scalars) + ["jets", "muons"]
    contents = [ak.contents.NumpyArray(v) for v in scalars.values()] + [jets, muons]
    array = ak.Array(ak.contents.RecordArray(contents, fields, length=n))
    write_container(os.path.join(out, "events"), array)
    write_hdf5(os.path.join(out, "events.h5"), array)
    try:
        import pyarrow as pa
        import pyarrow.feather as feather
    except ImportError:
        print("pyarrow not installed: events.arrow not written")
        return
    table = ak.to_arrow_table(array, extensionarray=False)
    feather.write_feather(table, os.path.join(out, "events.arrow"), compression="uncompressed")


def wide(out, n=1000, k=2000):
    rng = np.random.default_rng(3)
    contents = [ak.contents.NumpyArray(rng.standard_normal(n)) for _ in range(k)]
    array = ak.Array(ak.contents.RecordArray(contents, [f"f{i}" for i in range(k)], length=n))
    write_container(os.path.join(out, "wide"), array)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    which = sys.argv[2:] or ["events", "wide", "big"]
    for name in which:
        {"events": events, "wide": wide, "big": big}[name](out)
        print(f"wrote {os.path.join(out, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
