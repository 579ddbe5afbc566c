"""The Python bridge given containers it must not trust, and used as careless
code uses it (issue 33): structural buffers checked before awkward indexes
with them, keys shared by two nodes, memory that must not grow with the
number of opens, and a module imported twice. Crash cases run in a
subprocess, so that a crash fails the test instead of ending pytest."""

import gc
import json
import os
import shutil
import subprocess
import sys
import textwrap

import awkward as ak
import numpy as np
import pytest

import akbuf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EVENTS = os.path.join(ROOT, "data", "events")


def keys_of(path):
    """Each field path's (and attribute's) buffer key."""
    return {(b["field"], b["attribute"]): b["key"] for b in akbuf.open(str(path), cache=akbuf.Cache()).buffers()}


def write(path, layout, change=None):
    """`ak.to_buffers` of `layout` into a directory, `change(key, array)`
    giving a buffer's new values (None: as written)."""
    form, length, container = ak.to_buffers(ak.Array(layout))
    os.makedirs(path)
    with open(os.path.join(path, "metadata.json"), "w") as f:
        json.dump({"form": form.to_dict(), "length": length}, f)
    for key, buf in container.items():
        buf = np.asarray(buf)
        if change is not None:
            new = change(key, buf.copy())
            buf = buf if new is None else new
        with open(os.path.join(path, key), "wb") as f:
            f.write(np.ascontiguousarray(buf).tobytes())
    return str(path)


def run_isolated(code, tmp_path):
    """Runs `code` in a fresh interpreter; returns (returncode, stdout, stderr)."""
    script = tmp_path / "case.py"
    script.write_text(textwrap.dedent(code))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def bad_offsets(tmp_path):
    """The sample with list 4 of the jets ending at 1,000,000, far past the
    3,958 jets its last offset gives them."""
    path = tmp_path / "events"
    shutil.copytree(EVENTS, path)
    key = keys_of(path)[("jets", "offsets")]
    offsets = np.fromfile(path / key, dtype="<i8")
    offsets[5] = 1_000_000
    offsets.tofile(path / key)
    return str(path), key


def test_offsets_past_the_content_raise_instead_of_crashing(tmp_path):
    path, key = bad_offsets(tmp_path)
    events = akbuf.from_buffers(path, cache=akbuf.Cache())
    assert ak.sum(events.met) > 0  # other fields still read
    with pytest.raises(akbuf.Error) as e:
        ak.max(events["jets", "pt"], axis=1)
    assert e.value.key == key and key in str(e.value), str(e.value)
    assert e.value.node and e.value.node in str(e.value)
    assert "list 4 ends at offsets[5] = 1000000, past the content's length" in str(e.value)
    # (awkward's attribute access wraps what a field raises in an
    # AttributeError; akbuf's error is its cause.)
    with pytest.raises(AttributeError) as e:
        ak.max(akbuf.from_buffers(path, cache=akbuf.Cache()).jets.pt, axis=1)
    assert isinstance(e.value.__cause__, akbuf.Error) and e.value.__cause__.key == key
    # The same as a program would run it: an exception, never a signal.
    code, out, err = run_isolated(
        f"""
        import akbuf, awkward as ak
        events = akbuf.from_buffers({path!r})
        try:
            print(ak.max(events["jets", "pt"], axis=1).tolist()[:10])
        except akbuf.Error as e:
            print("raised", e.key)
        """,
        tmp_path,
    )
    assert code == 0, (code, err[-2000:])
    assert out.strip() == f"raised {key}", out


@pytest.mark.parametrize(
    "case",
    ["starts_after_stops", "negative_start", "negative_index", "tag_past_contents", "negative_union_index", "first_offset_negative"],
)
def test_every_structural_buffer_is_checked(tmp_path, case):
    pt = ak.contents.NumpyArray(np.arange(6, dtype=np.float64))
    i64 = lambda *v: ak.index.Index64(np.array(v, dtype=np.int64))
    layouts = {
        "starts_after_stops": (ak.contents.ListArray(i64(0, 2, 4), i64(2, 4, 6), pt), "starts", lambda a: a.__setitem__(1, 5)),
        "negative_start": (ak.contents.ListArray(i64(0, 2, 4), i64(2, 4, 6), pt), "starts", lambda a: a.__setitem__(2, -3)),
        "negative_index": (ak.contents.IndexedArray(i64(0, 5, 2), pt), "index", lambda a: a.__setitem__(1, -4)),
        "tag_past_contents": (
            ak.contents.UnionArray(ak.index.Index8(np.array([0, 1, 0], dtype=np.int8)), i64(0, 0, 1),
                                   [pt, ak.to_layout(ak.Array(["x"]))]),
            "tags", lambda a: a.__setitem__(2, 7)),
        "negative_union_index": (
            ak.contents.UnionArray(ak.index.Index8(np.array([0, 1, 0], dtype=np.int8)), i64(0, 0, 1),
                                   [pt, ak.to_layout(ak.Array(["x"]))]),
            "index", lambda a: a.__setitem__(2, -2)),
        "first_offset_negative": (ak.contents.ListOffsetArray(i64(0, 2, 6), pt), "offsets", lambda a: a.__setitem__(0, -1)),
    }
    layout, attribute, damage = layouts[case]

    def change(key, values):
        if key.endswith("-" + attribute) and values.dtype != np.uint8:
            damage(values)
            return values
        return None

    path = write(tmp_path / case, layout, change)
    wanted = [b["key"] for b in akbuf.open(path, cache=akbuf.Cache()).buffers() if b["attribute"] == attribute]
    array = akbuf.from_buffers(path, cache=akbuf.Cache())
    with pytest.raises(akbuf.Error) as e:
        ak.to_list(array)
    assert e.value.key in wanted or e.value.key in str(e.value), str(e.value)
    assert e.value.node is not None, str(e.value)


def test_valid_containers_pass_the_checks_unchanged():
    events = akbuf.from_buffers(EVENTS, cache=akbuf.Cache())
    assert ak.max(events.jets.pt, axis=1) is not None
    c = akbuf.open(EVENTS, cache=akbuf.Cache())
    offsets = c[keys_of(EVENTS)[("jets", "offsets")]]()
    assert offsets[0] == 0 and np.all(np.diff(offsets) >= 0)


def test_two_nodes_sharing_a_key_with_different_dtypes_are_refused(tmp_path):
    path = tmp_path / "shared"
    path.mkdir()
    form = {"class": "RecordArray", "fields": ["a", "b"], "contents": [
        {"class": "NumpyArray", "primitive": "int64", "form_key": "k"},
        {"class": "NumpyArray", "primitive": "float64", "form_key": "k"}]}
    (path / "metadata.json").write_text(json.dumps({"form": form, "length": 3}))
    np.arange(3, dtype="<i8").tofile(path / "k-data")
    with pytest.raises(akbuf.Error) as e:
        akbuf.open(str(path), cache=akbuf.Cache())
    text = str(e.value)
    assert "k-data" in text and "/a" in text and "/b" in text, text
    # Nodes of one dtype may share a key: each reads its own elements.
    form = {"class": "RecordArray", "fields": ["a", "b"], "contents": [
        {"class": "NumpyArray", "primitive": "int64", "form_key": "k"},
        {"class": "ListOffsetArray", "offsets": "i64", "form_key": "l",
         "content": {"class": "NumpyArray", "primitive": "int64", "form_key": "k"}}]}
    (path / "metadata.json").write_text(json.dumps({"form": form, "length": 3}))
    np.array([0, 1, 3, 5], dtype="<i8").tofile(path / "l-offsets")
    np.arange(5, dtype="<i8").tofile(path / "k-data")
    got = akbuf.from_buffers(str(path), cache=akbuf.Cache())
    want = ak.from_buffers(form, 3, {"k-data": np.arange(5), "l-offsets": np.array([0, 1, 3, 5])})
    assert ak.to_list(got) == ak.to_list(want)


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_opening_and_dropping_does_not_grow_memory():
    # The default cache, as careless code uses it.
    for _ in range(2000):
        akbuf.open(EVENTS)
    gc.collect()
    before = rss()
    n = 100_000
    for _ in range(n):
        akbuf.open(EVENTS)
    gc.collect()
    grown = rss() - before
    print(f"{n} open-and-drop cycles: RSS grew {grown / 2**20:.2f} MiB")
    # A kept weak reference per open was about 400 bytes: 38 MiB here.
    assert grown < 4 * 2**20, grown


def test_a_module_imported_again_keeps_its_exception_classes(tmp_path):
    path, key = bad_offsets(tmp_path)
    code, out, err = run_isolated(
        f"""
        import sys
        import akbuf
        old = akbuf.from_buffers({path!r})
        for name in [m for m in sys.modules if m == "akbuf" or m.startswith("akbuf.")]:
            del sys.modules[name]
        import akbuf
        import awkward as ak
        try:
            ak.max(akbuf.from_buffers({path!r})["jets", "pt"], axis=1)
        except akbuf.Error as e:
            print("new", e.key)
        try:
            ak.max(old["jets", "pt"], axis=1)
        except akbuf.Error as e:
            print("old", e.key)
        try:
            akbuf.open("/nonexistent/container")
        except akbuf.ReadError:
            print("read error")
        """,
        tmp_path,
    )
    assert code == 0, err[-2000:]
    assert out.split("\n")[:3] == [f"new {key}", f"old {key}", "read error"], out


def test_a_view_outlives_clear_its_container_and_its_cache(tmp_path):
    # In a fresh interpreter: a crash there fails this test.
    code, out, err = run_isolated(
        f"""
        import gc
        import numpy as np
        import akbuf

        cache = akbuf.Cache()
        c = akbuf.open({EVENTS!r}, cache=cache)
        views = {{key: c[key]() for key in c.keys()}}
        want = {{key: v.copy() for key, v in views.items()}}
        cache.clear()
        assert all(np.array_equal(views[k], want[k]) for k in want), "after clear"
        # The container read again after clear: new reads, the old views intact.
        again = {{key: c[key]() for key in c.keys()}}
        assert all(np.array_equal(again[k], want[k]) for k in want), "read again"
        del c, cache, again
        gc.collect()
        assert all(np.array_equal(views[k], want[k]) for k in want), "after drop"
        # Slices and views of views too.
        key = max(want, key=lambda k: want[k].nbytes)
        part = views[key][3:17].view(np.uint8)
        del views
        gc.collect()
        assert np.array_equal(part, want[key][3:17].view(np.uint8)), "slice after drop"
        # Writes are refused, and cannot be turned on.
        try:
            part[0] = 1
            print("wrote")
        except ValueError:
            print("write refused")
        try:
            part.setflags(write=True)
            print("made writeable")
        except ValueError:
            print("writeable refused")
        print("ok", float(part.astype(np.float64).sum()))
        """,
        tmp_path,
    )
    assert code == 0, err[-3000:]
    lines = out.split("\n")
    assert lines[:2] == ["write refused", "writeable refused"], out
    assert lines[2].startswith("ok"), out


def test_sixteen_threads_open_read_and_clear_at_once(tmp_path):
    code, out, err = run_isolated(
        f"""
        import threading
        import numpy as np
        import akbuf
        import awkward as ak

        cache = akbuf.Cache(200_000)
        want = float(ak.sum(akbuf.from_buffers({EVENTS!r}, cache=akbuf.Cache())["jets", "pt"]))
        sums = {{key: float(np.asarray(akbuf.open({EVENTS!r}, cache=akbuf.Cache())[key]()).astype(np.float64).sum())
                for key in akbuf.open({EVENTS!r}, cache=akbuf.Cache()).keys()}}
        bad = []

        def work(i):
            for n in range(40):
                c = akbuf.open({EVENTS!r}, cache=cache)
                for key in c.keys():
                    got = float(np.asarray(c[key]()).astype(np.float64).sum())
                    if got != sums[key]:
                        bad.append((i, n, key, got))
                if n % 5 == i % 5:
                    cache.clear()
                if n % 10 == 0:
                    got = float(ak.sum(akbuf.from_buffers({EVENTS!r}, cache=cache)["jets", "pt"]))
                    if got != want:
                        bad.append((i, n, "jets.pt", got))

        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("bad", bad[:5])
        """,
        tmp_path,
    )
    assert code == 0, err[-3000:]
    assert out.strip() == "bad []", out


def _user_container():
    """awkward's own buffers of the sample, as a plain dict."""
    array = akbuf.from_buffers(EVENTS, cache=akbuf.Cache())
    array = ak.Array(ak.to_packed(ak.materialize(array)) if hasattr(ak, "materialize") else ak.to_packed(array))
    form, length, container = ak.to_buffers(array)
    return array, form, length, {k: np.asarray(v) for k, v in container.items()}


def test_from_buffers_serves_a_user_container_through_the_cache():
    array, form, length, container = _user_container()
    asked = {}

    def getter(key):
        def get():
            asked[key] = asked.get(key, 0) + 1
            return container[key]
        return get

    getters = {k: getter(k) for k in container}
    cache = akbuf.Cache()
    for form_as in (form, form.to_dict(), form.to_json()):
        got = akbuf.from_buffers(form_as, length, getters, cache=cache)
        assert ak.array_equal(got, array, check_parameters=True)
    # bytes, memoryviews and non-contiguous arrays too
    mixed = {k: (v.tobytes() if i % 3 == 0 else memoryview(np.ascontiguousarray(v)) if i % 3 == 1
                 else np.repeat(v, 2)[::2]) for i, (k, v) in enumerate(container.items())}
    assert ak.array_equal(akbuf.from_buffers(form, length, mixed), array, check_parameters=True)
    # Each key asked once per array made (three), however often awkward
    # touched it: the cache served the rest.
    assert asked and all(n == 3 for n in asked.values()), asked


def test_a_user_getter_that_raises_or_lies_raises_akbuf_error_naming_the_key():
    array, form, length, container = _user_container()
    key = next(k for k in container if "offsets" in k)

    def run(value):
        bad = dict(container)
        bad[key] = value
        got = akbuf.from_buffers(form, length, bad, cache=akbuf.Cache())
        with pytest.raises(akbuf.Error) as e:
            ak.to_list(got)
        assert e.value.key == key, str(e.value)
        return str(e.value)

    def raises():
        raise ValueError("the store is down")

    assert "ValueError: the store is down" in run(raises)
    assert "int, not a bytes-like object" in run(lambda: 7)
    assert "str, not a bytes-like object" in run(lambda: "text")
    assert "None" in run(lambda: None) or "NoneType" in run(lambda: None)
    assert "too short" in run(lambda: container[key][:3])
    # A missing key: akbuf's missing-buffer error.
    bad = {k: v for k, v in container.items() if k != key}
    with pytest.raises(akbuf.Error) as e:
        ak.to_list(akbuf.from_buffers(form, length, bad, cache=akbuf.Cache()))
    assert e.value.key == key
    # Offsets that decrease: refused by the check, as for a file.
    offsets = container[key].copy()
    offsets[3] = offsets[-1] + 100
    assert "offsets" in run(lambda: offsets)
    with pytest.raises(TypeError):
        akbuf.from_buffers(form, length)


def test_a_user_getter_from_sixteen_threads_is_called_once(tmp_path):
    array, form, length, container = _user_container()
    import threading

    calls = {}
    lock = threading.Lock()

    def getter(key):
        def get():
            with lock:
                calls[key] = calls.get(key, 0) + 1
            return container[key]
        return get

    getters = {k: getter(k) for k in container}
    got = akbuf.from_buffers(form, length, getters, cache=akbuf.Cache())
    sums = []

    def work():
        sums.append(float(ak.sum(got["jets", "pt"])))

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(sums)) == 1 and len(sums) == 16
    assert all(n == 1 for n in calls.values()), calls
