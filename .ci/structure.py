#!/usr/bin/env python3
"""The house rules of issue 26, checked: no file under src/ over 700 lines,
no non-test function over 120 lines, sources and sinks that only move
bytes (nothing under src/source or src/sink names the container or options
modules), a host cache that names no device, and no file-extension rule in
the CLI or the Python package. Prints each breach; exits 1 if any."""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_FILE, MAX_FN = 700, 120
bad = []


def code_lines(text):
    """The lines with comments and string contents blanked (roughly)."""
    out = []
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith("//"):
            out.append("")
            continue
        line = re.sub(r"'(\\.|[^'\\])'", "' '", line)  # char literals: b'{'
        out.append(re.sub(r'"(\\.|[^"\\])*"', '""', line))
    return out


def functions(lines):
    """(name, first line, line count) of every fn outside #[cfg(test)] modules."""
    found = []
    test_depth = None
    depth = 0
    pending_test = False
    starts = []  # (name, line, depth at open)
    fn_pending = None
    for i, line in enumerate(lines):
        if re.search(r"#\[cfg\(test\)\]", line):
            pending_test = True
        m = re.search(r"\bfn\s+([A-Za-z0-9_]+)", line)
        if m and test_depth is None:
            fn_pending = (m.group(1), i)
        for ch in line:
            if ch == "{":
                if pending_test and test_depth is None:
                    test_depth = depth
                    pending_test = False
                if fn_pending is not None:
                    starts.append((fn_pending[0], fn_pending[1], depth))
                    fn_pending = None
                depth += 1
            elif ch == "}":
                depth -= 1
                if test_depth is not None and depth == test_depth:
                    test_depth = None
                if starts and starts[-1][2] == depth:
                    name, first, _ = starts.pop()
                    found.append((name, first + 1, i - first + 1))
            elif ch == ";" and fn_pending is not None:
                fn_pending = None  # a declaration without a body
        if pending_test and ";" in line and "{" not in line:
            pending_test = False
    return found


for path in sorted((ROOT / "src").rglob("*.rs")):
    rel = path.relative_to(ROOT)
    text = path.read_text()
    n = text.count("\n")
    if n > MAX_FILE:
        bad.append(f"{rel}: {n} lines (at most {MAX_FILE})")
    lines = code_lines(text)
    for name, first, count in functions(lines):
        if count > MAX_FN:
            bad.append(f"{rel}:{first}: fn {name} is {count} lines (at most {MAX_FN})")
    code = "\n".join(lines)
    parts = rel.parts
    if parts[1] in ("source", "sink") and re.search(r"\b(crate|super)::(container|options)\b", code):
        bad.append(f"{rel}: a source or sink names the container or options module")
    if parts[1] == "cache" and re.search(r"(?i)device|cuda|upload", code):
        bad.append(f"{rel}: the host cache names a device")

# No file-extension rule where a format is decided for the user.
RULES = re.compile(r'ends_with\(|\.extension\(\)|"\.(h5|hdf5|parquet|arrow|feather|ipc)"|metadata\.json"\)\.(exists|is_file)')
for path in [*sorted((ROOT / "src" / "bin").rglob("*.rs")), *sorted((ROOT / "python" / "src").rglob("*.rs"))]:
    for i, line in enumerate(path.read_text().split("\n")):
        if not line.strip().startswith("//") and RULES.search(line):
            bad.append(f"{path.relative_to(ROOT)}:{i + 1}: a file-extension rule: {line.strip()}")

for b in bad:
    print(b)
print(f"structure: {len(bad)} breach(es)")
sys.exit(1 if bad else 0)
