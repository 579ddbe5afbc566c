#!/usr/bin/env bash
# Peak resident memory of `akbuf copy` on a 1 GiB container (issue #4).
#   bash benches/copy_memory.sh [DATA_DIR]
# Writes DATA_DIR/big with benches/data/generate.py if it is not there, then
# copies it with each option set under /usr/bin/time and prints max RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-/tmp/akbuf-bench-data}
[ -f "$data/big/node0-data" ] || .venv/bin/python benches/data/generate.py "$data" big
cargo build --profile profiling --quiet --bin akbuf
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cat /proc/cpuinfo | grep -m1 "model name" || true
ls -l "$data/big"
for opts in "" "--byteorder >" "--packed" "--packed --byteorder >"; do
    for rep in 1 2 3; do
        rm -rf "$out/copy"
        /usr/bin/time -f "akbuf copy $opts: max RSS %M KiB, %e s" target/profiling/akbuf copy "$data/big" "$out/copy" $opts
    done
done
for rep in 1 2 3; do
    rm -rf "$out/copy"
    /usr/bin/time -f "cp -r (baseline): max RSS %M KiB, %e s" cp -r "$data/big" "$out/copy"
done
