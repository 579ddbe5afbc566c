#!/usr/bin/env python3
"""Differential sweep: random arrays made by awkward 2.14, read and written by
akbuf, compared with what awkward says.

For every seed, a seeded generator builds a random layout over all twelve
node classes, nested up to five levels, with random parameters, every index
type, unpacked layouts (offsets not from 0, contents longer than needed,
overlapping and out-of-order ListArray ranges, empty lists pointing anywhere,
IndexedArray gathers, masked entries, unions of records, zero-length and
empty pieces), both byte orders and custom key templates. awkward writes it
with ak.to_buffers into a directory container; then

  akbuf show / type / form / validate   == awkward's values (DESIGN.md JSON
                                            mapping), str(type), form JSON,
                                            ak.validity_error
  akbuf copy (random options)           == ak.to_buffers bytes, form, length
  akbuf copy --packed                   == ak.to_buffers(ak.to_packed(...))
  akbuf copy into FILE.h5:GROUP         == h5py + awkward read it back equal
  akbuf show of an h5py-written group   == awkward's values   (with --hdf5)
  akbuf show --rows A:B                 == awkward's values of array[A:B]
  akbuf copy --rows A:B                 == awkward reads back array[A:B]'s values
  akbuf copy --packed --rows A:B        == ak.to_buffers(ak.to_packed(array[A:B]))
                                           (valid arrays: an invalid one may
                                           fail outside the rows sliced)

Every divergence is printed with its seed (and the container kept under
--keep DIR); the exit status is 1 if any was found.

    .venv/bin/python tests/sweep/sweep.py target/release/akbuf --seeds 0:300 [--hdf5] [--keep DIR]
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import awkward as ak
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fixtures"))
from generate import design_json, read_back, write_container  # noqa: E402

C = ak.contents
INDEX = {
    "i8": (ak.index.Index8, np.int8),
    "u8": (ak.index.IndexU8, np.uint8),
    "i32": (ak.index.Index32, np.int32),
    "u32": (ak.index.IndexU32, np.uint32),
    "i64": (ak.index.Index64, np.int64),
}
PRIMITIVES = [
    "bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
    "datetime64[s]", "datetime64[ms]", "timedelta64[ns]", "timedelta64[D]",
]
FIELD_NAMES = ["x", "y", "pt", "a b", "dotted.name", "0", "é", "z"]


class Invalid(Exception):
    """The generator made something awkward does not accept; try again."""


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.np = np.random.default_rng(seed)

    # -- helpers ---------------------------------------------------------
    def chance(self, p):
        return self.r.random() < p

    def index(self, name, values):
        cls, dt = INDEX[name]
        return cls(np.asarray(values, dtype=dt))

    def params(self, allowed=True):
        if not allowed or not self.chance(0.15):
            return None
        return self.r.choice([
            {"user": "note"},
            {"__doc__": "doc"},
            {"n": 3, "list": [1, 2]},
            # null and every other JSON value, escapes included
            {"none": None},
            {"user": None, "n": -7},
            {"deep": {"a": [None, True, False, {"b": []}], "c": {}}},
            {"s": 'quote " back\\slash \n tab\t \u00e9 \u2603 \U0001f600 \u0001'},
            {"f": 1.5e300, "g": -0.0, "h": 0.1},
            {"big": 2**62, "empty": "", "list": []},
        ])

    def extra(self):
        """Entries a content may have beyond what its parent reaches."""
        return self.r.choice([0, 0, 0, 1, 3])

    # -- leaves ----------------------------------------------------------
    def numpy(self, length, inner=True):
        prim = self.r.choice(PRIMITIVES)
        shape = ()
        if inner and self.chance(0.15):
            shape = tuple(self.r.choice([1, 2, 3, 0]) for _ in range(self.r.choice([1, 2])))
        with np.errstate(over="ignore"):
            return self._numpy(prim, shape, length)

    def _numpy(self, prim, shape, length):
        n = length * int(np.prod(shape)) if shape else length
        if prim == "bool":
            data = self.np.integers(0, 2, n).astype(np.bool_)
        elif prim.startswith(("int", "uint")):
            info = np.iinfo(prim)
            data = self.np.integers(info.min, info.max, n, dtype=prim, endpoint=True)
        elif prim.startswith("float"):
            data = (self.np.standard_normal(n) * 10.0 ** self.r.choice([-3, 0, 3, 30])).astype(prim)
            if n and self.chance(0.3):
                data[self.r.randrange(n)] = self.r.choice([np.nan, np.inf, -np.inf, -0.0])
        elif prim.startswith("complex"):
            data = (self.np.standard_normal(n) + 1j * self.np.standard_normal(n)).astype(prim)
        else:
            data = self.np.integers(-(10**6), 10**6, n).astype(np.int64).view(prim)
            if n and self.chance(0.2):
                data[self.r.randrange(n)] = np.array("NaT", dtype=prim)
        data = data.reshape((length, *shape)) if shape else data
        return C.NumpyArray(data, parameters=self.params())

    def string(self, length, bytes_=False):
        words = []
        for _ in range(length):
            w = "".join(self.r.choice("abcxyz é€\"\\\n") for _ in range(self.r.randrange(0, 6)))
            words.append(w.encode() if bytes_ else w)
        layout = ak.to_layout(ak.Array(words)) if words else ak.to_layout(ak.Array(["x"]))[:0]
        # Re-type the offsets at random, keeping awkward's string parameters.
        name = self.r.choice(["i32", "u32", "i64"])
        offsets = np.asarray(layout.offsets)
        content = layout.content
        if bytes_:
            content = C.NumpyArray(np.asarray(content.data), parameters={"__array__": "byte"})
            params = {"__array__": "bytestring"}
        else:
            params = {"__array__": "string"}
        return C.ListOffsetArray(self.index(name, offsets), content, parameters=params)

    # -- nodes -----------------------------------------------------------
    def node(self, length, depth, forbid=()):
        """A layout of exactly `length` elements; `forbid` names the kinds
        the parent cannot hold (option, indexed, union, record)."""
        if length == 0 and self.chance(0.3) and "empty" not in forbid:
            return C.EmptyArray()
        if depth <= 0:
            return self.leaf(length)
        kinds = ["numpy", "string", "regular", "listoffset", "list", "record", "tuple",
                 "indexed", "indexedoption", "bytemasked", "bitmasked", "unmasked", "union"]
        kinds = [k for k in kinds if k not in forbid]
        if "option" in forbid:
            kinds = [k for k in kinds if k not in ("indexedoption", "bytemasked", "bitmasked", "unmasked")]
        kind = self.r.choice(kinds)
        return getattr(self, "make_" + kind)(length, depth - 1)

    def leaf(self, length):
        return self.r.choice([self.numpy, self.numpy, self.string])(length)

    def make_numpy(self, length, depth):
        return self.numpy(length)

    def make_string(self, length, depth):
        return self.string(length, bytes_=self.chance(0.3))

    def make_regular(self, length, depth):
        size = self.r.choice([0, 1, 2, 3])
        if size == 0:
            return C.RegularArray(self.node(self.r.choice([0, 2]), depth), 0, zeros_length=length,
                                  parameters=self.params())
        content = self.node(length * size + self.r.choice([0, 0, size - 1]), depth)
        return C.RegularArray(content, size, parameters=self.params())

    def counts(self, length):
        return [self.r.choice([0, 0, 1, 2, 3]) for _ in range(length)]

    def make_listoffset(self, length, depth):
        start = self.r.choice([0, 0, 2])
        offsets = np.cumsum([start] + self.counts(length))
        content = self.node(int(offsets[-1]) + self.extra(), depth)
        name = self.r.choice(["i32", "u32", "i64"])
        return C.ListOffsetArray(self.index(name, offsets), content, parameters=self.params())

    def make_list(self, length, depth):
        clen = self.r.choice([0, 3, 6, 10])
        content = self.node(clen, depth)
        starts, stops = [], []
        for _ in range(length):
            if clen == 0 or self.chance(0.2):
                # An empty list may point anywhere, even past the content.
                s = self.r.choice([0, clen, clen + 5, 1])
                starts.append(s)
                stops.append(s)
            else:
                s = self.r.randrange(clen)
                starts.append(s)
                stops.append(self.r.randrange(s, clen + 1))
        name = self.r.choice(["i32", "u32", "i64"])
        return C.ListArray(self.index(name, starts), self.index(name, stops), content,
                           parameters=self.params())

    def fields(self, n):
        return self.r.sample(FIELD_NAMES, n)

    def make_record(self, length, depth, tuple_=False):
        n = self.r.choice([0, 1, 1, 2, 3]) if length > 0 else self.r.choice([1, 2])
        contents = [self.node(length + self.extra(), depth) for _ in range(n)]
        fields = None if tuple_ else self.fields(n)
        params = self.params()
        if not tuple_ and self.chance(0.15):
            params = dict(params or {}, __record__="Point")
        return C.RecordArray(contents, fields, length=length, parameters=params)

    def make_tuple(self, length, depth):
        return self.make_record(length, depth, tuple_=True)

    def option_content(self, length, depth, union_ok=False):
        forbid = ("option", "indexed", "indexedoption", "empty") + (() if union_ok else ("union",))
        return self.node(length, depth, forbid=forbid)

    def make_indexed(self, length, depth):
        categorical = self.chance(0.2)
        clen = self.r.choice([1, 3, 5]) if length else self.r.choice([0, 2])
        content = self.option_content(clen, depth, union_ok=categorical)
        index = [self.r.randrange(clen) for _ in range(length)]
        params = {"__array__": "categorical"} if categorical else self.params()
        return C.IndexedArray(self.index(self.r.choice(["i32", "u32", "i64"]), index), content,
                              parameters=params)

    def make_indexedoption(self, length, depth):
        categorical = self.chance(0.2)
        clen = self.r.choice([1, 3, 5]) if length else self.r.choice([0, 2])
        content = self.option_content(clen, depth, union_ok=categorical)
        index = [self.r.choice([-1, -1, -3]) if self.chance(0.3) else self.r.randrange(clen)
                 for _ in range(length)]
        params = {"__array__": "categorical"} if categorical else self.params()
        return C.IndexedOptionArray(self.index(self.r.choice(["i32", "i64"]), index), content,
                                    parameters=params)

    def make_bytemasked(self, length, depth):
        content = self.option_content(length + self.extra(), depth)
        mask = self.np.integers(0, 2, length).astype(np.int8)
        return C.ByteMaskedArray(ak.index.Index8(mask), content, valid_when=self.chance(0.5),
                                 parameters=self.params())

    def make_bitmasked(self, length, depth):
        content = self.option_content(length + self.extra(), depth)
        nbytes = (length + 7) // 8 + self.r.choice([0, 0, 1])
        mask = self.np.integers(0, 256, nbytes).astype(np.uint8)
        return C.BitMaskedArray(ak.index.IndexU8(mask), content, valid_when=self.chance(0.5),
                                length=length, lsb_order=self.chance(0.5), parameters=self.params())

    def make_unmasked(self, length, depth):
        return C.UnmaskedArray(self.option_content(length, depth), parameters=self.params())

    def make_union(self, length, depth):
        n = self.r.choice([2, 2, 3])
        optional = self.chance(0.2)
        tags = [self.r.randrange(n) for _ in range(length)]
        contents, index = [], [0] * length
        for t in range(n):
            used = [i for i, x in enumerate(tags) if x == t]
            clen = len(used) + self.extra()
            if optional:
                c = C.UnmaskedArray(self.option_content(clen, depth))
            else:
                c = self.node(clen, depth, forbid=("union", "option", "indexed", "indexedoption", "empty"))
            contents.append(c)
            positions = list(range(clen))
            if self.chance(0.5):
                self.r.shuffle(positions)
            for k, i in enumerate(used):
                index[i] = positions[k] if k < len(positions) else 0
        name = self.r.choice(["i32", "u32", "i64"])
        return C.UnionArray(ak.index.Index8(np.asarray(tags, dtype=np.int8)), self.index(name, index),
                            contents, parameters=self.params())

    def array(self):
        length = self.r.choice([0, 1, 2, 3, 5, 8])
        depth = self.r.choice([1, 2, 3, 4, 5])
        try:
            layout = self.node(length, depth)
            error = ak.validity_error(layout)
        except Exception as e:  # awkward refused what was built
            raise Invalid(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
        if error:
            raise Invalid(error)
        return ak.Array(layout)

    def options(self):
        return dict(
            byteorder=self.r.choice(["<", "<", ">"]),
            form_key=self.r.choice(["node{id}", "node{id}", "k{id}x"]),
            buffer_key=self.r.choice(["{form_key}-{attribute}", "{form_key}-{attribute}",
                                      "{form_key}.{attribute}.b", "part0-{form_key}-{attribute}"]),
            id_start=self.r.choice([0, 0, 1, 7]),
        )


def raw_container(path):
    with open(os.path.join(path, "metadata.json")) as f:
        meta = json.load(f)
    out = {}
    for name in os.listdir(path):
        if name != "metadata.json":
            with open(os.path.join(path, name), "rb") as f:
                out[name] = f.read()
    return meta, out


def awkward_buffers(array, **kwargs):
    form, length, container = ak.to_buffers(array, **kwargs)
    return form, length, {k: np.ascontiguousarray(v).tobytes() for k, v in container.items()}


def cli_flags(opts):
    return ["--byteorder", opts["byteorder"], "--form-key", opts["form_key"],
            "--buffer-key", opts["buffer_key"], "--id-start", str(opts["id_start"])]


class Sweep:
    def __init__(self, akbuf, tmp, hdf5):
        self.akbuf = akbuf
        self.tmp = tmp
        self.hdf5 = hdf5
        self.divergences = []
        self.classes = {}
        self.h5 = os.path.join(tmp, "sweep.h5")

    def run(self, *args, timeout=60):
        return subprocess.run([self.akbuf, *args], capture_output=True, text=True, timeout=timeout)

    def diverged(self, seed, what, detail=""):
        self.divergences.append((seed, what, detail))

    def check(self, seed, gen):
        array = gen.array()
        case = os.path.join(self.tmp, f"s{seed}")
        try:
            write_opts = gen.options()
            write_container(case, array, **write_opts)
            back, meta = read_back(case)
            back = ak.materialize(back)
            want_json, want_type = design_json(back), str(back.type)
            want_form = ak.forms.from_dict(meta["form"]).to_json()
            for cls in json.loads(want_form, object_hook=lambda d: d).__repr__().split("'class': '")[1:]:
                name = cls.split("'")[0]
                self.classes[name] = self.classes.get(name, 0) + 1
            validity = ak.validity_error(back)
            want_valid = validity == ""
            want_packed = awkward_buffers(ak.to_packed(back))
        except Exception as e:  # awkward cannot write, read or say what it holds
            raise Invalid(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e

        show = self.run("show", case)
        if show.returncode != 0 or show.stdout.strip() != want_json:
            self.diverged(seed, "show", show.stderr.strip() or f"got {show.stdout.strip()[:300]}\nwant {want_json[:300]}")
        typ = self.run("type", case)
        if typ.stdout.strip() != want_type:
            self.diverged(seed, "type", f"got {typ.stdout.strip()!r} want {want_type!r} {typ.stderr.strip()}")
        form = self.run("form", case)
        if form.stdout.strip() != want_form:
            self.diverged(seed, "form", f"got {form.stdout.strip()[:300]}\nwant {want_form[:300]}")
        valid = self.run("validate", case)
        if (valid.returncode == 0) != want_valid:
            self.diverged(seed, "validate", f"akbuf: {valid.stdout.strip()} {valid.stderr.strip()}; "
                                            f"awkward: {ak.validity_error(back)!r}")

        # copy with random options: awkward's to_buffers of what it read.
        copy_opts = gen.options()
        dst = case + ".copy"
        cp = self.run("copy", case, dst, *cli_flags(copy_opts))
        if cp.returncode != 0:
            self.diverged(seed, "copy", cp.stderr.strip())
        else:
            self.same_buffers(seed, "copy", dst, awkward_buffers(back, **copy_opts))
        dst = case + ".packed"
        cp = self.run("copy", "--packed", case, dst)
        if cp.returncode != 0:
            self.diverged(seed, "copy --packed", cp.stderr.strip())
        else:
            self.same_buffers(seed, "copy --packed", dst, want_packed)
        if want_valid:
            self.check_rows(seed, gen, case, back)
        if self.hdf5:
            self.check_hdf5(seed, case, back, want_json)
        return case

    def check_rows(self, seed, gen, case, back):
        """Lazy row slices against awkward's slices of the same array."""
        n = len(back)
        a = gen.r.randint(0, n)
        b = gen.r.randint(a, n)
        part = back[a:b]
        show = self.run("show", case, "--rows", f"{a}:{b}")
        want = design_json(part)
        if show.returncode != 0 or show.stdout.strip() != want:
            self.diverged(seed, f"show --rows {a}:{b}",
                          show.stderr.strip() or f"got {show.stdout.strip()[:300]}\nwant {want[:300]}")
        dst = f"{case}.rows"
        cp = self.run("copy", "--rows", f"{a}:{b}", case, dst)
        if cp.returncode != 0:
            self.diverged(seed, f"copy --rows {a}:{b}", cp.stderr.strip())
        else:
            got = design_json(ak.materialize(read_back(dst)[0]))
            if got != want:
                self.diverged(seed, f"copy --rows {a}:{b}: awkward reads back",
                              f"got {got[:300]}\nwant {want[:300]}")
        dst = f"{case}.rows.packed"
        cp = self.run("copy", "--packed", "--rows", f"{a}:{b}", case, dst)
        if cp.returncode != 0:
            self.diverged(seed, f"copy --packed --rows {a}:{b}", cp.stderr.strip())
        else:
            self.same_buffers(seed, f"copy --packed --rows {a}:{b}", dst,
                              awkward_buffers(ak.to_packed(part)))

    def same_buffers(self, seed, what, dst, want):
        form, length, buffers = want
        meta, got = raw_container(dst)
        if ak.forms.from_dict(meta["form"]).to_json() != form.to_json():
            self.diverged(seed, what + ": form", f"got {json.dumps(meta['form'])[:300]}\nwant {form.to_json()[:300]}")
        if meta["length"] != length:
            self.diverged(seed, what + ": length", f"got {meta['length']} want {length}")
        if got != buffers:
            keys = sorted(set(got) ^ set(buffers)) or [k for k in buffers if got.get(k) != buffers[k]]
            detail = "; ".join(f"{k}: got {got.get(k, b'').hex()[:80]} want {buffers.get(k, b'').hex()[:80]}"
                               for k in keys[:3])
            self.diverged(seed, what + ": buffers", detail)

    def check_hdf5(self, seed, case, back, want_json):
        import h5py

        group = f"s{seed}"
        cp = self.run("copy", case, f"{self.h5}:{group}")
        if cp.returncode != 0:
            self.diverged(seed, "copy to hdf5", cp.stderr.strip())
        else:
            form, length, want = awkward_buffers(back)
            with h5py.File(self.h5, "r") as f:
                g = f[group]
                got = {k: np.asarray(v).tobytes() for k, v in g.items()}
                if got != want or json.loads(g.attrs["length"]) != length:
                    self.diverged(seed, "copy to hdf5: buffers")
        # What h5py writes as the documentation does, read by akbuf.
        form, length, container = ak.to_buffers(back)
        name = f"h{seed}"
        with h5py.File(self.h5, "a") as f:
            g = f.create_group(name)
            g.attrs["form"] = form.to_json()
            g.attrs["length"] = json.dumps(length)
            for k, v in container.items():
                v = np.asarray(v)
                if v.dtype.kind in "mM":  # h5py stores no datetimes: their int64 bytes
                    v = v.view(np.int64)
                g.create_dataset(k, data=v)
        show = self.run("show", f"{self.h5}:{name}")
        if show.returncode != 0 or show.stdout.strip() != want_json:
            self.diverged(seed, "show of an h5py group", show.stderr.strip()[:300])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("akbuf")
    p.add_argument("--seeds", default="0:100", help="A:B, or a list S1,S2,...: the seeds to run")
    p.add_argument("--hdf5", action="store_true", help="also the HDF5 paths (a binary with --features hdf5)")
    p.add_argument("--keep", help="copy the containers of diverging seeds here")
    args = p.parse_args()
    if ":" in args.seeds:
        a, b = (int(x) for x in args.seeds.split(":"))
        seeds = range(a, b)
    else:
        seeds = [int(x) for x in args.seeds.split(",")]
        a, b = min(seeds), max(seeds) + 1
    start = time.time()
    arrays = invalid = 0
    with tempfile.TemporaryDirectory() as tmp:
        sweep = Sweep(os.path.abspath(args.akbuf), tmp, args.hdf5)
        for seed in seeds:
            before = len(sweep.divergences)
            try:
                case = sweep.check(seed, Gen(seed))
            except Invalid as e:
                # awkward refused to build, write or read what the generator made.
                invalid += 1
                if os.environ.get("SWEEP_VERBOSE"):
                    print(f"seed {seed}: skipped: {str(e)[:200]}")
                continue
            arrays += 1
            if len(sweep.divergences) > before and args.keep:
                os.makedirs(args.keep, exist_ok=True)
                shutil.copytree(case, os.path.join(args.keep, f"s{seed}"), dirs_exist_ok=True)
            for name in os.listdir(tmp):
                if name.startswith(f"s{seed}"):
                    shutil.rmtree(os.path.join(tmp, name))
    for seed, what, detail in sweep.divergences:
        print(f"DIVERGENCE seed {seed}: {what}: {detail}")
    seeds = sorted({d[0] for d in sweep.divergences})
    print("node classes seen:", ", ".join(f"{k} {v}" for k, v in sorted(sweep.classes.items())))
    print(f"sweep {a}:{b}: {arrays} arrays checked ({invalid} generated layouts refused by awkward), "
          f"{len(sweep.divergences)} divergences in {len(seeds)} seeds, {time.time() - start:.0f} s"
          + (f"; seeds {seeds[:20]}" if seeds else ""))
    return 1 if sweep.divergences else 0


if __name__ == "__main__":
    sys.exit(main())
