#!/usr/bin/env python3
"""The peer of examples/zarr_sum.rs, and the writer of its data.

    .venv/bin/python benches/zarr_peer.py write SRC DST.zarr      (write-v2: Zarr v2, blosc lz4)
        SRC (a directory container, e.g. /tmp/akdata/events) as one Zarr v3
        group as awkward's convention stores it (anndata's attributes, the
        form as JSON text), every buffer in chunks of 1 MiB, zstd level 3,
        by zarr-python.
    .venv/bin/python benches/zarr_peer.py sum DST.zarr REPS
        zarr-python 3 + awkward 2.14, lazily: `ak.from_buffers` over a
        container whose getters read each Zarr array when awkward asks;
        open + sum of jets.pt, then a 100-row slice's jets.pt from the
        middle. Prints `open_sum_seconds slice_seconds sum` per run (a fresh
        group and array objects each run).
        With ZARRS=1, zarr-python decodes through zarrs-python's codec
        pipeline (`pip install zarrs`: the same Rust crate akbuf uses).
"""

import json
import os
import sys
import time

import awkward as ak
import numcodecs
import numpy as np
import zarr

assert ak.__version__ == "2.14.0", ak.__version__


def write(src, dst, v2=False):
    with open(os.path.join(src, "metadata.json")) as f:
        meta = json.load(f)
    buffers = {}
    for name in os.listdir(src):
        if name != "metadata.json":
            with open(os.path.join(src, name), "rb") as f:
                buffers[name] = f.read()
    array = ak.from_buffers(meta["form"], meta["length"], buffers,
                            buffer_key=meta.get("buffer_key", "{form_key}-{attribute}"))
    form, length, container = ak.to_buffers(array)
    group = zarr.open_group(dst, mode="w", zarr_format=2 if v2 else 3)
    group.attrs.update({"encoding-type": "awkward-array", "encoding-version": "0.1.0",
                        "form": form.to_json(), "length": int(length)})
    for key, buf in container.items():
        data = np.asarray(buf)
        chunk = max(1, (1 << 20) // data.itemsize)
        # v2: blosc lz4 with byte shuffle, zarr-python's and anndata's v2 default.
        codec = (numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE) if v2
                 else zarr.codecs.ZstdCodec(level=3))
        a = group.create_array(key, shape=data.shape, dtype=data.dtype, chunks=(chunk,),
                               compressors=codec)
        a[...] = data


def run(path):
    t0 = time.perf_counter()
    group = zarr.open_group(path, mode="r")
    form, length = json.loads(group.attrs["form"]), group.attrs["length"]

    class Getter:
        def __getitem__(self, key):
            return lambda: group[key][...]

    events = ak.from_buffers(form, length, Getter(), backend="cpu")
    total = float(ak.sum(events.jets.pt))
    t1 = time.perf_counter()
    middle = length // 2
    group = zarr.open_group(path, mode="r")
    events = ak.from_buffers(form, length, Getter(), backend="cpu")
    piece = events[middle:middle + 100].jets.pt
    ak.sum(piece)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, total


def main():
    if os.environ.get("ZARRS") == "1":
        import zarrs  # noqa: F401  (registers the pipeline)

        zarr.config.set({"codec_pipeline.path": "zarrs.ZarrsCodecPipeline"})
    if sys.argv[1] in ("write", "write-v2"):
        return write(sys.argv[2], sys.argv[3], v2=sys.argv[1] == "write-v2")
    path, reps = sys.argv[2], int(sys.argv[3])
    run(path)  # imports, code paths
    for _ in range(reps):
        a, b, total = run(path)
        print(f"{a:.6f} {b:.6f} {total:.6g}", flush=True)


main()
