#!/usr/bin/env bash
# Fresh processes: W1 (open events), W2 (open + sum jets.pt) and W4 (open
# wide + sum one of 2,000 fields), once per process, akbuf and awkward
# alternating, REPS processes each; prints the medians and their ratio.
# With BEFORE=path/to/an/older/fresh (the same example built from another
# tree), that binary runs in the same alternation: before and after in one run.
#
#   bash benches/fresh.sh DATA_DIR [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: bash benches/fresh.sh DATA_DIR [REPS]}
reps=${2:-21}
before=${BEFORE:-}
py=.venv/bin/python
cargo build --profile profiling --quiet -p akbuf-bench --example fresh
for w in W1 W2 W4; do
    rm -f /tmp/akbuf-fresh-{rust,py,before}
    touch /tmp/akbuf-fresh-before
    for _ in $(seq "$reps"); do
        target/profiling/examples/fresh "$data" "$w" | cut -d' ' -f1 >> /tmp/akbuf-fresh-rust
        $py benches/fresh_peer.py "$data" "$w" | cut -d' ' -f1 >> /tmp/akbuf-fresh-py
        if [ -n "$before" ]; then
            "$before" "$data" "$w" | cut -d' ' -f1 >> /tmp/akbuf-fresh-before
            $py benches/fresh_peer.py "$data" "$w" | cut -d' ' -f1 >> /tmp/akbuf-fresh-py
        fi
    done
    $py - "$w" <<'PY'
import statistics, sys
r = [float(x) for x in open("/tmp/akbuf-fresh-rust")]
p = [float(x) for x in open("/tmp/akbuf-fresh-py")]
b = [float(x) for x in open("/tmp/akbuf-fresh-before")]
mr, mp = statistics.median(r), statistics.median(p)
line = (f"{sys.argv[1]} fresh process: akbuf {mr*1e3:.3f} ms (min {min(r)*1e3:.3f}), "
        f"awkward {mp*1e3:.3f} ms (min {min(p)*1e3:.3f}): {mp/mr:.1f}x")
if b:
    mb = statistics.median(b)
    line += f"; before {mb*1e3:.3f} ms (min {min(b)*1e3:.3f}): {mp/mb:.1f}x"
print(line)
PY
done
