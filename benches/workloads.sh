#!/usr/bin/env bash
# Issue #7's workloads, all contenders, one run: akbuf, arrow-rs and the
# memmap limits (examples/workloads.rs), then awkward and pyarrow
# (benches/workloads_peer.py), then W2's peak memory in a fresh process.
# Writes BENCHMARKS.json.
#
#   bash benches/workloads.sh DATA_DIR
#
# DATA_DIR needs events, events.arrow, wide and big from
# `benches/data/generate.py DATA_DIR` (pyarrow installed for events.arrow).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: bash benches/workloads.sh DATA_DIR}
py=.venv/bin/python
for need in events events.arrow wide big; do
  [ -e "$data/$need" ] || { echo "missing $data/$need: run $py benches/data/generate.py $data" >&2; exit 1; }
done
cargo build --profile profiling --quiet -p akbuf-bench --example workloads
rm -f BENCHMARKS.json
target/profiling/examples/workloads "$data"
$py benches/workloads_peer.py "$data"
for i in 1 2 3; do target/profiling/examples/workloads "$data" --w2-peak; done
