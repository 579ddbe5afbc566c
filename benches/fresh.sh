#!/usr/bin/env bash
# Fresh processes: W1 (open events), W2 (open + sum jets.pt) and W4 (open
# wide + sum one of 2,000 fields), once per process, akbuf and awkward
# alternating, REPS processes each; prints the medians and their ratio.
#
#   bash benches/fresh.sh DATA_DIR [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: bash benches/fresh.sh DATA_DIR [REPS]}
reps=${2:-21}
py=.venv/bin/python
cargo build --profile profiling --quiet -p akbuf-bench --example fresh
for w in W1 W2 W4; do
    rm -f /tmp/akbuf-fresh-{rust,py}
    for _ in $(seq "$reps"); do
        target/profiling/examples/fresh "$data" "$w" | cut -d' ' -f1 >> /tmp/akbuf-fresh-rust
        $py benches/fresh_peer.py "$data" "$w" | cut -d' ' -f1 >> /tmp/akbuf-fresh-py
    done
    $py - "$w" <<'PY'
import statistics, sys
r = [float(x) for x in open("/tmp/akbuf-fresh-rust")]
p = [float(x) for x in open("/tmp/akbuf-fresh-py")]
mr, mp = statistics.median(r), statistics.median(p)
print(f"{sys.argv[1]} fresh process: akbuf {mr*1e3:.3f} ms (min {min(r)*1e3:.3f}), "
      f"awkward {mp*1e3:.3f} ms (min {min(p)*1e3:.3f}): {mp/mr:.1f}x")
PY
done
