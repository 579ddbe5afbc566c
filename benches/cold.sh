#!/usr/bin/env bash
# A cold page cache: open `big` and sum its 1 GiB (akbuf, W5) against the same
# sum over a bare memory map of the same file, each in a fresh process after
# dropping the page cache (needs root), alternating, REPS times each.
#
#   bash benches/cold.sh DATA_DIR [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: bash benches/cold.sh DATA_DIR [REPS]}
reps=${2:-7}
cargo build --profile profiling --quiet -p akbuf-bench --example fresh
rm -f /tmp/akbuf-cold-{akbuf,limit}
for _ in $(seq "$reps"); do
    for who in W5 W5limit; do
        sync && echo 3 > /proc/sys/vm/drop_caches
        target/profiling/examples/fresh "$data" "$who" | cut -d' ' -f1 >> "/tmp/akbuf-cold-$who"
    done
done
.venv/bin/python - <<'PY'
import statistics
a = [float(x) for x in open("/tmp/akbuf-cold-W5")]
l = [float(x) for x in open("/tmp/akbuf-cold-W5limit")]
ma, ml = statistics.median(a), statistics.median(l)
print(f"W5 cold: akbuf {ma*1e3:.1f} ms (min {min(a)*1e3:.1f}), bare memory map {ml*1e3:.1f} ms "
      f"(min {min(l)*1e3:.1f}): {ma/ml:.3f}x of the limit")
PY
