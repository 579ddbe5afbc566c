#!/usr/bin/env python3
"""awkward's side of benches/fresh.sh: one workload, once, in this fresh
process, timed after the imports (as `fresh.rs` is timed after start-up).

    .venv/bin/python benches/fresh_peer.py DATA_DIR W1|W2|W4
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads_peer import ak_open  # noqa: E402

import awkward as ak  # noqa: E402

data, which = sys.argv[1], sys.argv[2]
start = time.perf_counter()
if which == "W1":
    array, _ = ak_open(os.path.join(data, "events"))
    check = len(array)
elif which == "W2":
    array, _ = ak_open(os.path.join(data, "events"))
    check = float(ak.sum(array.jets.pt))
else:
    array, _ = ak_open(os.path.join(data, "wide"))
    check = float(ak.sum(array["f1000"]))
print(f"{time.perf_counter() - start:.9f} {check}")
