#!/usr/bin/env bash
# The HDF5 benchmark of BENCHMARKS.md: open an HDF5 group and sum one field,
# akbuf (examples/hdf5_sum.rs) against awkward 2.14 + h5py reading lazily
# (benches/hdf5_peer.py), on the same file, in one run, interleaved.
#
#   bash benches/hdf5_sum.sh DATA_DIR [REPS]
#
# DATA_DIR/events.h5 is written by `benches/data/generate.py DATA_DIR events`
# (h5py, as Awkward's documentation stores arrays: contiguous datasets).
# This script also writes DATA_DIR/events_gzip.h5, the same datasets chunked
# and gzip-compressed (level 4), to measure the path through libhdf5.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: bash benches/hdf5_sum.sh DATA_DIR [REPS]}
reps=${2:-20}
py=.venv/bin/python
[ -f "$data/events.h5" ] || $py benches/data/generate.py "$data" events
if [ ! -f "$data/events_gzip.h5" ]; then
  $py - "$data" <<'PY'
import sys, h5py
d = sys.argv[1]
with h5py.File(f"{d}/events.h5", "r") as src, h5py.File(f"{d}/events_gzip.h5", "w") as dst:
    s, g = src["awkward"], dst.create_group("awkward")
    for k, v in s.items():
        g.create_dataset(k, data=v[()], chunks=(min(len(v), 1 << 18),), compression="gzip", compression_opts=4)
    for k, v in s.attrs.items():
        g.attrs[k] = v
PY
fi
cargo build --profile profiling -p akbuf-bench --features hdf5 --example hdf5_sum -q
ls -l "$data/events.h5" "$data/events_gzip.h5"
for file in events.h5 events_gzip.h5; do
  echo "== $file: open + sum of jets.pt, $reps repetitions after 3 warm-ups, twice each, interleaved"
  for round in 1 2; do
    target/profiling/examples/hdf5_sum "$data/$file" jets.pt "$reps"
    $py benches/hdf5_peer.py "$data/$file" jets.pt "$reps"
  done
done
