"""The Python bridge against awkward 2.14: values, laziness, threads, budget,
zero copy and errors. Run: `python -m pytest python/tests` (after
`pip install ./python`)."""

import gc
import json
import os
import shutil
import threading

import awkward as ak
import numpy as np
import pytest

import akbuf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
CASES = os.path.join(FIXTURES, "cases")
PARTITIONED = os.path.join(FIXTURES, "partitioned")
EVENTS = os.path.join(ROOT, "data", "events")


# ---------------------------------------------------------------- awkward's eager read


class Files:
    """A directory's buffer files, read eagerly, as awkward's container."""

    def __init__(self, path):
        self.path = path

    def __getitem__(self, key):
        full = os.path.join(self.path, key)
        if not os.path.isfile(full):
            raise KeyError(key)
        with open(full, "rb") as f:
            return f.read()  # bytes: awkward takes what the node needs of them

    def __contains__(self, key):
        return os.path.isfile(os.path.join(self.path, key))


def eager(path):
    """awkward 2's own read of a directory container, partition by partition."""
    with open(os.path.join(path, "metadata.json")) as f:
        meta = json.load(f)
    form = ak.forms.from_dict(meta["form"]) if isinstance(meta["form"], dict) else ak.forms.from_json(meta["form"])
    length = meta["length"]
    byteorder = meta.get("byteorder", "<")
    if not isinstance(length, list):
        template = meta.get("buffer_key", "{form_key}-{attribute}").replace("{partition}", str(meta.get("partition_start", 0)))
        return ak.from_buffers(form, length, Files(path), buffer_key=template, byteorder=byteorder)
    template = meta.get("buffer_key", "part{partition}-{form_key}-{attribute}")
    start = meta.get("partition_start", 0)
    parts = [
        ak.from_buffers(form, n, Files(path), buffer_key=template.replace("{partition}", str(start + i)), byteorder=byteorder)
        for i, n in enumerate(length)
    ]
    return ak.concatenate(parts) if len(parts) > 1 else parts[0]


def same(got, want):
    assert str(got.type) == str(want.type)
    assert ak.array_equal(got, want, equal_nan=True, dtype_exact=True, check_parameters=True)
    assert ak.to_list(got) == ak.to_list(want) or ak.array_equal(got, want, equal_nan=True)


def dirs(parent):
    return sorted(d for d in os.listdir(parent) if os.path.isfile(os.path.join(parent, d, "metadata.json")))


@pytest.mark.parametrize("name", dirs(CASES))
def test_every_case_equals_awkwards_eager_read(name):
    path = os.path.join(CASES, name)
    try:
        want = eager(path)
        ak.to_list(want)
    except Exception as e:  # awkward itself refuses it: akbuf must refuse it too, cleanly
        with pytest.raises(akbuf.Error):
            ak.to_list(akbuf.from_buffers(path, cache=akbuf.Cache()))
        pytest.skip(f"awkward refuses it too: {type(e).__name__}")
    same(akbuf.from_buffers(path, cache=akbuf.Cache()), want)


@pytest.mark.parametrize("name", dirs(PARTITIONED))
def test_every_partitioned_container_equals_awkwards_eager_read(name):
    path = os.path.join(PARTITIONED, name)
    c = akbuf.open(path, cache=akbuf.Cache())
    with open(os.path.join(path, "metadata.json")) as f:
        meta = json.load(f)
    assert c.length == meta["length"]
    same(akbuf.from_buffers(path, cache=akbuf.Cache()), eager(path))


@pytest.mark.skipif("hdf5" not in akbuf.features(), reason="built without the hdf5 feature")
def test_hdf5_groups_equal_the_directory_cases():
    import h5py

    path = os.path.join(FIXTURES, "hdf5", "cases.h5")
    with h5py.File(path) as f:
        groups = sorted(f.keys())
    assert len(groups) > 100
    for g in groups:
        same(akbuf.from_buffers(f"{path}:{g}", cache=akbuf.Cache()), eager(os.path.join(CASES, g)))
    # partitioned arrays stored in HDF5 groups (awkward 1's keys, one dataset each)
    path = os.path.join(FIXTURES, "hdf5", "partitioned.h5")
    with h5py.File(path) as f:
        groups = sorted(f.keys())
    assert len(groups) >= 5
    for g in groups:
        c = akbuf.open(f"{path}:{g}", cache=akbuf.Cache())
        assert isinstance(c.length, list)
        same(akbuf.from_buffers(f"{path}:{g}", cache=akbuf.Cache()), eager(os.path.join(PARTITIONED, g.removesuffix("_array"))))


def test_a_file_url_opens_as_its_path():
    got = akbuf.from_buffers("file://" + EVENTS, cache=akbuf.Cache())
    same(got, eager(EVENTS))


# ---------------------------------------------------------------- laziness and the cache


def test_only_the_touched_keys_are_read():
    cache = akbuf.Cache()
    events = akbuf.from_buffers(EVENTS, cache=cache)
    c = akbuf.open(EVENTS, cache=cache)
    keys = {b["field"]: b["key"] for b in c.buffers()}
    assert cache.stats()["reads"] == 0
    pt = events.jets.pt
    total = ak.sum(pt)
    assert sorted(cache.read_keys()) == sorted([keys["jets"], keys["jets.pt"]])
    assert ak.sum(pt) == total
    ak.max(events.jets.pt)
    assert cache.stats()["reads"] == 2  # and no more
    assert np.isclose(total, ak.sum(eager(EVENTS).jets.pt))


def make_events(tmp, n=400_000, fields=("pt",)):
    """A container of jets with float64 fields, written by awkward."""
    rng = np.random.default_rng(7)
    counts = rng.integers(0, 8, n)
    total = int(counts.sum())
    jets = ak.zip({f: ak.unflatten(rng.random(total), counts) for f in fields})
    array = ak.Array({"run": np.arange(n), "jets": jets})
    form, length, buffers = ak.to_buffers(array)
    os.makedirs(tmp, exist_ok=True)
    for key, value in buffers.items():
        np.asarray(value).tofile(os.path.join(tmp, key))
    with open(os.path.join(tmp, "metadata.json"), "w") as f:
        json.dump({"form": form.to_dict(), "length": length}, f)
    return array


def fromfile_container(path, counter):
    """awkward's lazy path: a callable per key reading its file, counted."""
    lock = threading.Lock()

    class Lazy:
        def __getitem__(self, key):
            def read():
                with lock:
                    counter[key] = counter.get(key, 0) + 1
                return np.fromfile(os.path.join(path, key), dtype=np.uint8)

            return read

    return Lazy()


def in_threads(n, work):
    barrier = threading.Barrier(n)
    out, errors = [None] * n, []

    def run(i):
        try:
            barrier.wait()
            out[i] = work()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return out


def test_eight_threads_on_one_cold_field_read_it_once(tmp_path, capsys):
    path = str(tmp_path / "events")
    array = make_events(path, n=1_000_000)
    want = ak.sum(array.jets.pt)
    with open(os.path.join(path, "metadata.json")) as f:
        meta = json.load(f)
    pt_key = "node4-data"

    cache = akbuf.Cache()
    events = akbuf.from_buffers(path, cache=cache)
    sums = in_threads(8, lambda: ak.sum(events.jets.pt))
    assert all(np.isclose(s, want) for s in sums)
    akbuf_reads = cache.read_keys().count(pt_key)
    assert akbuf_reads == 1
    assert cache.stats()["reads"] == 2  # the jets offsets and pt, once each

    counter = {}
    lazy = ak.from_buffers(ak.forms.from_dict(meta["form"]), meta["length"], fromfile_container(path, counter))
    sums = in_threads(8, lambda: ak.sum(lazy.jets.pt))
    assert all(np.isclose(s, want) for s in sums)
    with capsys.disabled():
        print(f"\n8 threads summing one cold field: akbuf read {pt_key} {akbuf_reads} time(s); "
              f"awkward's lazy from_buffers over np.fromfile read it {counter.get(pt_key, 0)} time(s)")


def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_a_budget_bounds_rss_and_clear_releases(tmp_path):
    path = str(tmp_path / "wide")
    fields = tuple(f"f{i}" for i in range(8))
    make_events(path, n=1_000_000, fields=fields)  # 8 fields of ~28 MB each: 224 MB
    budget = 64 << 20
    cache = akbuf.Cache(budget)
    events = akbuf.from_buffers(path, cache=cache)
    ak.sum(events.run)  # warm awkward's code paths
    cache.clear()
    gc.collect()
    base = rss()
    peak = 0
    for f in fields:
        ak.sum(events.jets[f])
        gc.collect()
        peak = max(peak, rss() - base)
        assert cache.stats()["resident"] <= budget
    sizes = [b["stored_bytes"] for b in akbuf.open(path, cache=cache).buffers() if b["field"] in {f"jets.{f}" for f in fields}]
    assert sum(sizes) > 3 * budget
    assert cache.stats()["evictions"] > 0
    assert peak <= budget * 1.1, f"RSS grew {peak / 2**20:.1f} MiB over a {budget / 2**20:.0f} MiB budget"

    # clear: the field's buffers go, RSS falls, the next touch reads once more
    held = rss()
    reads = cache.stats()["reads"]
    cache.clear()
    gc.collect()
    assert cache.stats()["resident"] == 0
    assert rss() < held - (16 << 20)
    ak.sum(events.jets.f7)
    assert cache.stats()["reads"] == reads + 2  # the jets offsets and f7


def test_clear_a_field_drops_only_its_buffers():
    cache = akbuf.Cache()
    events = akbuf.from_buffers(EVENTS, cache=cache)
    ak.sum(events.jets.pt)
    ak.sum(events.jets.eta)
    assert cache.stats()["reads"] == 3
    assert cache.clear("jets.pt") == 1  # pt's data; the offsets are the jets'
    ak.sum(events.jets.eta)
    assert cache.stats()["reads"] == 3
    ak.sum(events.jets.pt)
    assert cache.stats()["reads"] == 4
    assert cache.read_keys()[-1] == cache.read_keys()[1]
    assert cache.clear("no.such.field") == 0


def test_prefetch_reads_in_the_background_then_nothing_more():
    cache = akbuf.Cache()
    c = akbuf.open(EVENTS, cache=cache)
    p = cache.prefetch(c, ["jets.pt", "met"])
    assert p.wait() == 3  # the jets offsets, pt, met
    assert p.done()
    events = ak.from_buffers(c.form, c.length, c, buffer_key=c.buffer_key, enable_virtualarray_caching=False)
    ak.sum(events.jets.pt)
    ak.sum(events.met)
    assert cache.stats()["reads"] == 3
    with pytest.raises(ValueError):
        akbuf.Cache().prefetch(c, ["jets.pt"])
    with pytest.raises(akbuf.Error, match="no field"):
        cache.prefetch(c, ["jets.nope"]).wait()


# ---------------------------------------------------------------- zero copy


def test_buffers_are_numpy_arrays_over_akbufs_memory():
    cache = akbuf.Cache()
    c = akbuf.open(EVENTS, cache=cache)
    keys = {b["field"]: b for b in c.buffers()}
    pt = c[keys["jets.pt"]["key"]]()
    again = c[keys["jets.pt"]["key"]]()
    assert isinstance(pt.base, akbuf.BufferView)
    assert pt.dtype == np.float32 and not pt.flags.writeable
    with pytest.raises(ValueError):
        pt.flags.writeable = True  # the bytes are a read-only map: numpy refuses
    assert pt.ctypes.data == pt.base.address == again.ctypes.data  # the same bytes, no copy
    assert pt.nbytes == pt.base.nbytes
    assert cache.stats()["reads"] == 2
    # awkward's layout holds akbuf's bytes, not a copy
    events = ak.from_buffers(c.form, c.length, c, buffer_key=c.buffer_key)
    data = ak.to_layout(events.jets.pt).content.data
    assert np.asarray(data).ctypes.data == pt.ctypes.data
    # a big-endian container's buffers are swapped once, then shared
    be = akbuf.open(os.path.join(CASES, "bigendian"), cache=akbuf.Cache())
    assert be.stored_byteorder == ">" and be.byteorder == "<"
    first, second = be["node4-data"](), be["node4-data"]()
    assert first.ctypes.data == second.ctypes.data
    assert first.tolist() == [1, 2, 3, 4]


# ---------------------------------------------------------------- errors


def test_damaged_data_raises_naming_the_key_and_node(tmp_path):
    path = tmp_path / "events"
    shutil.copytree(EVENTS, path)
    key = {b["field"]: b["key"] for b in akbuf.open(str(path), cache=akbuf.Cache()).buffers()}["jets.pt"]
    with open(path / key, "r+b") as f:
        f.truncate(10)
    events = akbuf.from_buffers(str(path), cache=akbuf.Cache())
    assert ak.sum(events.met) > 0  # other fields still read
    with pytest.raises(akbuf.Error) as e:
        ak.sum(events.jets.pt)
    assert e.value.key == key and key in str(e.value)
    assert e.value.node
    os.remove(path / key)
    with pytest.raises(akbuf.Error, match=key):
        ak.sum(akbuf.from_buffers(str(path), cache=akbuf.Cache()).jets.pt)


def test_io_errors_are_oserrors():
    with pytest.raises(akbuf.ReadError) as e:
        akbuf.open("/nonexistent/container")
    assert isinstance(e.value, OSError) and isinstance(e.value, akbuf.Error)
    with pytest.raises(KeyError):
        akbuf.open(EVENTS)["no-such-key"]
    with pytest.raises(ValueError):
        akbuf.open(EVENTS, cache=akbuf.Cache(), budget=1)


def test_a_bad_form_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "bad"
    path.mkdir()
    (path / "metadata.json").write_text('{"form": {"class": "NumpyArray", "primitive": "int99"}, "length": 3}')
    with pytest.raises(akbuf.Error):
        akbuf.open(str(path))
    (path / "metadata.json").write_text('{"form": "int64", "length": 1000000000000000}')
    with pytest.raises(akbuf.Error):
        ak.sum(akbuf.from_buffers(str(path), cache=akbuf.Cache()))


# ---------------------------------------------------------------- a URL (feature remote)


NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 1024; }}
http {{
    log_format counted '$request_method $uri $status $body_bytes_sent "$http_range"';
    access_log {d}/access.log counted;
    client_body_temp_path {d}/tmp;
    proxy_temp_path {d}/tmp;
    fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp;
    scgi_temp_path {d}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        location / {{ }}
    }}
}}
"""


@pytest.fixture
def nginx(tmp_path):
    import socket
    import subprocess
    import time

    binary = next((b for b in ("/usr/sbin/nginx", "/usr/bin/nginx") if os.path.exists(b)), None)
    if binary is None:
        if os.environ.get("AKBUF_REQUIRE_SERVERS"):
            pytest.fail("nginx is not installed")
        pytest.skip("nginx is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "www").mkdir()
    (tmp_path / "tmp").mkdir()
    (tmp_path / "nginx.conf").write_text(NGINX_CONF.format(d=tmp_path, port=port))
    proc = subprocess.Popen([binary, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                             "-e", str(tmp_path / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("nginx did not start")

    def requests():
        time.sleep(0.05)  # nginx logs a request as its response ends
        with open(tmp_path / "access.log") as f:
            return [line.split()[1] for line in f if line.startswith("GET")]

    yield f"http://127.0.0.1:{port}", tmp_path / "www", requests
    proc.kill()
    proc.wait()


@pytest.mark.skipif("remote" not in akbuf.features(), reason="built without the remote feature")
def test_a_url_reads_only_the_touched_objects_once(nginx):
    url, www, requests = nginx
    shutil.copytree(EVENTS, www / "events")
    cache = akbuf.Cache()
    events = akbuf.from_buffers(f"{url}/events", cache=cache)
    assert requests() == ["/events/metadata.json"]
    c = akbuf.open(f"{url}/events", cache=cache)
    keys = {b["field"]: b["key"] for b in c.buffers()}
    sums = in_threads(8, lambda: ak.sum(events.jets.pt))
    assert all(np.isclose(s, ak.sum(eager(EVENTS).jets.pt)) for s in sums)
    got = requests()
    assert sorted(got[2:]) == sorted([f"/events/{keys['jets']}", f"/events/{keys['jets.pt']}"])
    same(events, eager(EVENTS))
    with pytest.raises(akbuf.ReadError):
        akbuf.open(f"{url}/missing")


def test_a_disk_cache_serves_a_second_open_after_one_revalidation(nginx, tmp_path):
    url, www, requests = nginx
    shutil.copytree(EVENTS, www / "events")
    tier = tmp_path / "tier"
    first = akbuf.Cache(disk=str(tier), disk_budget=1 << 30)
    events = akbuf.from_buffers(f"{url}/events", cache=first)
    expected = ak.sum(eager(EVENTS).jets.pt)
    assert np.isclose(ak.sum(events.jets.pt), expected)
    assert first.disk()["stored"] == 3 and first.disk()["budget"] == 1 << 30
    before = len(requests())
    # A new cache over the same folder, as a new process: one conditional
    # request (metadata.json, 304), the buffers from disk.
    second = akbuf.Cache(disk=str(tier))
    again = akbuf.from_buffers(f"{url}/events", cache=second)
    assert np.isclose(ak.sum(again.jets.pt), expected)
    assert requests()[before:] == ["/events/metadata.json"]
    assert second.disk()["hits"] == 3 and second.disk()["pieces"] == 3
    assert akbuf.Cache().disk() is None
    with pytest.raises(ValueError):
        akbuf.Cache(disk_budget=10)


ZARR = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "zarr")


@pytest.mark.skipif("zarr" not in akbuf.features(), reason="built without zarr")
def test_zarr_groups_open_as_containers():
    import zarr
    import anndata

    for store in ("events.chunked.zarr", "events.sharded.zarr", "events.v2.zarr"):
        c = akbuf.open(os.path.join(ZARR, store), cache=akbuf.Cache())
        events = ak.from_buffers(c.form, c.length, c, buffer_key=c.buffer_key)
        same(events, eager(EVENTS))
    spec = os.path.join(ZARR, "cells.zarr") + ":obsm/airr"
    airr = akbuf.from_buffers(spec, cache=akbuf.Cache())
    back = anndata.io.read_elem(zarr.open_group(os.path.join(ZARR, "cells.zarr"), mode="r")["obsm/airr"])
    assert airr.to_list() == back.to_list()
    with pytest.raises(akbuf.Error, match="not an awkward array"):
        akbuf.open(os.path.join(ZARR, "cells.zarr"))
    # anndata's default store (Zarr v2), as anndata reads it.
    v2 = os.path.join(ZARR, "cells.v2.zarr")
    airr = akbuf.from_buffers(v2 + ":obsm/airr", cache=akbuf.Cache())
    back = anndata.io.read_elem(zarr.open_group(v2, mode="r")["obsm/airr"])
    assert airr.to_list() == back.to_list()


# ---------------------------------------------------------------- datasets


def test_a_folder_or_list_of_containers_is_one_dataset(tmp_path):
    # two containers of one form, keyed differently (awkward's to_buffers with
    # another form-key template), and a partitioned one (awkward 1's)
    events = eager(EVENTS)
    a, b = tmp_path / "folder" / "a", tmp_path / "folder" / "b"
    for path, rows, form_key in [(a, slice(0, 400), "node{id}"), (b, slice(400, None), "k{id}")]:
        form, length, buffers = ak.to_buffers(events[rows], form_key=form_key)
        path.mkdir(parents=True)
        for key, value in buffers.items():
            np.asarray(value).tofile(path / key)
        (path / "metadata.json").write_text(json.dumps({"form": form.to_dict(), "length": length}))
    for spec in [str(tmp_path / "folder"), [str(a), str(b)]]:
        cache = akbuf.Cache()
        c = akbuf.open(spec, cache=cache)
        assert c.is_dataset and c.length == [400, 600]
        assert len(set(c.keys())) == len(c.keys())
        got = akbuf.from_buffers(spec, cache=cache)
        # ak.concatenate reads the offsets of the lists it joins (jets, muons)
        assert len(cache.read_keys()) == 4 and all(k.endswith("-offsets") for k in cache.read_keys())
        assert np.isclose(ak.sum(got.jets.pt), ak.sum(events.jets.pt))
        assert cache.stats()["reads"] == 6  # and each container's pt
        same(got, events)
    # a partitioned container twice: the same keys in two containers
    parted = os.path.join(PARTITIONED, "events_unequal")
    want = eager(parted)
    c = akbuf.open([parted, parted], cache=akbuf.Cache())
    with open(os.path.join(parted, "metadata.json")) as f:
        assert c.length == json.load(f)["length"] * 2
    assert len(set(c.keys())) == len(c.keys()) == 2 * len(akbuf.open(parted).keys())
    same(akbuf.from_buffers([parted, parted], cache=akbuf.Cache()), ak.concatenate([want, want]))


# ---------------------------------------------------------------- pickling by location


def pickled_kinds():
    kinds = [
        EVENTS,
        "file://" + EVENTS,
        os.path.join(PARTITIONED, "events_unequal"),
        [os.path.join(PARTITIONED, "events_unequal"), os.path.join(PARTITIONED, "events_whole")],
    ]
    if "hdf5" in akbuf.features():
        kinds += [os.path.join(FIXTURES, "hdf5", "cases.h5") + ":bigendian",
                  os.path.join(FIXTURES, "hdf5", "partitioned.h5") + ":events_unequal"]
    if "zarr" in akbuf.features():
        kinds += [os.path.join(FIXTURES, "zarr", "events.sharded.zarr"),
                  os.path.join(FIXTURES, "zarr", "cells.zarr") + ":obsm/airr"]
    return kinds


@pytest.mark.parametrize("spec", pickled_kinds(), ids=lambda s: os.path.basename(str(s)))
def test_a_container_pickles_as_its_location_and_reads_nothing_until_touched(spec):
    import pickle

    c = akbuf.open(spec, cache=akbuf.Cache())
    want = akbuf.from_buffers(spec, cache=akbuf.Cache())
    blob = pickle.dumps(c)
    assert len(blob) < 1000, len(blob)  # the locations and options, no buffer
    default = akbuf.default_cache()
    default.clear()
    before = default.stats()["reads"]
    back = pickle.loads(blob)
    assert back.cache is default  # the process's shared cache
    assert default.stats()["reads"] == before
    assert not any(b["loaded"] for b in back.buffers())
    assert back.keys() == c.keys() and back.length == c.length
    got = akbuf.from_buffers(back)
    same(got, want)
    assert default.stats()["reads"] > before
    # A buffer's getter pickles as its container and key.
    key = c.keys()[0]
    getter = pickle.loads(pickle.dumps(c[key]))
    assert getter.key == key
    assert np.array_equal(getter(), c[key]())


def test_a_container_of_python_buffers_does_not_pickle():
    import pickle

    from akbuf._akbuf import open_buffers

    got = akbuf.open(EVENTS, cache=akbuf.Cache())
    meta = {"form": got.form, "length": got.length}
    user = open_buffers(json.dumps(meta), {k: got[k]().tobytes() for k in got})
    with pytest.raises(TypeError, match="does not pickle"):
        pickle.dumps(user)


def _jets_pt_sum_and_reads(container):
    """In a worker: the sum of jets.pt over the unpickled container, and the
    keys the worker's default cache read."""
    seen = []
    got = akbuf.from_buffers(container)
    total = float(ak.sum(got.jets.pt))
    for b in container.buffers():
        if b["loaded"]:
            seen.append(b["key"])
    return total, sorted(seen), container.cache.stats()["reads"]


def test_a_pickled_container_reads_in_another_process_only_what_it_needs():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    c = akbuf.open(EVENTS, cache=akbuf.Cache())
    want = float(ak.sum(akbuf.from_buffers(EVENTS, cache=akbuf.Cache()).jets.pt))
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        total, seen, reads = pool.submit(_jets_pt_sum_and_reads, c).result(timeout=120)
        # A second task in the same worker shares its cache: nothing read again.
        again, _, reads_again = pool.submit(_jets_pt_sum_and_reads, c).result(timeout=120)
    assert total == pytest.approx(want) and again == total
    pt = [b for b in c.buffers() if b["field"] in ("jets", "jets.pt")]
    assert seen == sorted(b["key"] for b in pt), seen
    assert reads == len(pt) and reads_again == reads


# ---------------------------------------------------------------- iterate


@pytest.mark.parametrize("step", [1, 333, 1000, 5000, "4 kB", "100 MB"])
def test_iterate_yields_awkwards_slices(step):
    want = eager(EVENTS)
    chunks = list(akbuf.iterate(EVENTS, step_size=step, fields=["met", "jets"], cache=akbuf.Cache()))
    assert sum(len(c) for c in chunks) == len(want)
    at = 0
    for c in chunks:
        same(c, want[at:at + len(c)][["met", "jets"]])
        at += len(c)
    if isinstance(step, int):
        assert all(len(c) == step for c in chunks[:-1])


def test_iterate_crosses_partitions_and_takes_an_open_container():
    path = os.path.join(PARTITIONED, "events_unequal")
    want = eager(path)
    c = akbuf.open(path, cache=akbuf.Cache())
    chunks = list(akbuf.iterate(c, step_size=3))
    assert [len(x) for x in chunks] == [3] * (len(want) // 3) + ([len(want) % 3] if len(want) % 3 else [])
    same(ak.concatenate(chunks), want)
    assert list(akbuf.iterate(c, step_size="0.5 kB")) != []
    with pytest.raises(ValueError):
        list(akbuf.iterate(c, step_size="lots"))


@pytest.mark.parametrize("step, error", [
    (0, ValueError), (-1, ValueError), ("0 MB", ValueError), ("-5 MB", ValueError),
    ("nan MB", ValueError), ("inf", ValueError), ("0.5 B", ValueError), ("1 ZB", ValueError),
    (1.5, TypeError), (None, TypeError), (True, TypeError),
])
def test_iterate_refuses_a_step_that_is_no_rows_or_bytes(step, error):
    with pytest.raises(error):
        next(akbuf.iterate(EVENTS, step_size=step, cache=akbuf.Cache()))


def test_iterate_takes_numpy_integers_as_rows():
    chunks = list(akbuf.iterate(EVENTS, step_size=np.int64(300), cache=akbuf.Cache()))
    assert [len(c) for c in chunks[:-1]] == [300] * (len(chunks) - 1)


@pytest.mark.skipif("zarr" not in akbuf.features(), reason="built without the zarr feature")
def test_iterate_reads_the_next_chunk_while_the_current_one_is_worked_on():
    import time

    # A chunked Zarr store: every chunk of rows is reads of its own (a
    # directory container's mapped buffers serve every range at once).
    store = os.path.join(FIXTURES, "zarr", "events.chunked.zarr")

    def reads_after_first(prefetch):
        cache = akbuf.Cache()
        it = akbuf.iterate(store, step_size=250, fields=["jets"], cache=cache, prefetch=prefetch)
        first = next(it)
        assert len(first) == 250
        r0 = cache.stats()["reads"]
        # Work on the first chunk without asking for the next (bounded).
        deadline = time.monotonic() + 10
        while cache.stats()["reads"] == r0 and time.monotonic() < deadline:
            time.sleep(0.01)
            if not prefetch and time.monotonic() > deadline - 9.7:
                break
        grown = cache.stats()["reads"] > r0
        rest = list(it)
        assert sum(len(c) for c in rest) == 750
        return grown

    assert reads_after_first(True), "the next chunk is read in the background"
    assert not reads_after_first(False), "without prefetch nothing is read ahead"


@pytest.mark.skipif("remote" not in akbuf.features(), reason="built without the remote feature")
def test_a_container_at_an_http_url_pickles_as_its_url():
    import functools
    import http.server
    import pickle

    # A plain HTTP server on loopback (it ignores ranges: akbuf reads whole objects then).
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=os.path.dirname(EVENTS))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{os.path.basename(EVENTS)}"
        c = akbuf.open(url, cache=akbuf.Cache(), storage_options={"allow_http": "true"})
        blob = pickle.dumps(c)
        assert len(blob) < 1000 and url.encode() in blob
        back = pickle.loads(blob)
        assert back.path == url and back.cache is akbuf.default_cache()
        same(akbuf.from_buffers(back).jets.pt, eager(EVENTS).jets.pt)
    finally:
        server.shutdown()
        server.server_close()
