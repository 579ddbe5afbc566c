"""akbuf: Awkward Array buffer containers, read lazily through one shared cache.

``akbuf.open(path)`` opens a container that akbuf reads (a directory written
by ``ak.to_buffers``, a partitioned one from awkward 1, with the features
built an HDF5 group or a URL) and reads nothing. The container is a mapping
for ``ak.from_buffers``: ``c[key]`` is a zero-argument callable returning the
buffer as a read-only NumPy array over akbuf's memory, read on first call
through an ``akbuf.Cache``, the GIL released::

    import awkward as ak, akbuf

    c = akbuf.open("data/events")
    events = ak.from_buffers(c.form, c.length, c, buffer_key=c.buffer_key)
    ak.sum(events.jets.pt)          # reads the jets offsets and pt, once

    events = akbuf.from_buffers("data/events")   # the same in one call

A cache is shared by every container and thread that uses it: eight threads
touching one cold field cause one read. ``Cache(budget_bytes)`` bounds what
it keeps resident, ``clear("jets.pt")`` drops a field's buffers and
``prefetch(container, ["jets.pt"])`` reads fields in the background.
``Cache(disk=DIR, disk_budget=BYTES)`` keeps what remote containers fetch
on local disk, shared by every process and run (``cache.disk()`` shows it).
"""

import operator

from ._akbuf import (  # noqa: F401
    BufferView,
    Cache,
    Container,
    Error,
    Getter,
    Prefetch,
    ReadError,
    default_cache,
    features,
    open,
)

__all__ = [
    "BufferView",
    "Cache",
    "Container",
    "Error",
    "Getter",
    "Prefetch",
    "ReadError",
    "default_cache",
    "features",
    "from_buffers",
    "iterate",
    "open",
]


def from_buffers(path_or_url, length=None, container=None, *, cache=None, budget=None,
                 storage_options=None, confined=False, **kwargs):
    """Opens ``path_or_url`` with :func:`open` (a container, or a list or
    folder of containers as one dataset) and returns it as a lazy
    ``ak.Array`` (``ak.from_buffers`` over the container): nothing is read
    until a field's values are needed.

    A partitioned container gives its partitions concatenated
    (``ak.concatenate``, which reads the offsets of the lists it joins; the
    values stay unread). Other keyword arguments go to ``ak.from_buffers``;
    ``enable_virtualarray_caching`` defaults to False, so that arrays hold no
    copy of their buffers and akbuf's cache (its budget, ``clear``) is the
    only one.

    ``from_buffers(form, length, container)`` takes what ``ak.from_buffers``
    takes (a form as a ``Form``, a dict or JSON; a length; a mapping from
    keys to bytes-like objects or to zero-argument callables returning
    them; ``buffer_key`` and ``byteorder``) and serves that container
    through akbuf's cache: each key asked of it once per array made,
    however many threads touch it, and checked as akbuf's own buffers are
    (arrays made by separate calls share nothing: a container is known by
    no name that outlives it). A getter that raises,
    or returns something not bytes-like, raises ``akbuf.Error`` naming the
    key; a buffer too short for its node too.
    """
    import awkward as ak

    if container is not None or length is not None:
        return _from_user(ak, path_or_url, length, container, cache, budget, kwargs)
    if isinstance(path_or_url, Container):
        c = path_or_url  # an open container (one unpickled in a worker)
    else:
        c = open(path_or_url, cache=cache, budget=budget,
                 storage_options=storage_options, confined=confined)
    length = c.length
    # awkward 2.14's ak.concatenate of option-type virtual arrays that do not
    # cache gives indexes out of range: partitions keep awkward's caching.
    kwargs.setdefault("enable_virtualarray_caching", isinstance(length, list))
    kwargs.setdefault("byteorder", c.byteorder)
    form = ak.forms.from_dict(c.form)
    if not isinstance(length, list):
        # an awkward 1 container of one partition may still name it
        key = c.buffer_key.replace("{partition}", str(c.partition_start))
        return _from_buffers(ak, form, length, c, key, kwargs)
    # a dataset's containers may key the form differently: each partition
    # is built with its own container's form
    parts = [
        _from_buffers(ak, ak.forms.from_dict(c.partition_form(i)) if c.is_dataset else form, n, c,
                      c.buffer_key.replace("{partition}", str(c.partition_start + i)), kwargs)
        for i, n in enumerate(length)
        if n > 0
    ]
    if not parts:
        highlevel = kwargs.get("highlevel", True)
        empty = form.length_zero_array()
        return ak.Array(empty) if highlevel else empty
    if len(parts) == 1:
        return parts[0]
    return ak.concatenate(parts, highlevel=kwargs.get("highlevel", True))


_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def _parse_bytes(step_size):
    """``"100 MB"`` (kB, MB, GB, TB; KiB, MiB, GiB, TiB; B) as bytes."""
    if not isinstance(step_size, str):
        raise TypeError(f"step_size {step_size!r}: a number of rows (int), or bytes such as '100 MB' (str)")
    text = step_size.strip().lower().replace(" ", "")
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(number):] or "b"
    try:
        value = float(number) * _UNITS[unit]
    except (KeyError, ValueError):
        value = None
    if value is None or not value >= 1 or value == float("inf"):
        raise ValueError(f"step_size {step_size!r}: a number of rows, or bytes (at least one) such as '100 MB'")
    return int(value)


def _step_rows(c, step_size, fields):
    """The rows per step: ``step_size`` rows, or as many as hold about that
    many bytes of the selected fields' buffers (as stored)."""
    length = c.length
    total = sum(length) if isinstance(length, list) else length
    if isinstance(step_size, bool):
        raise TypeError("step_size: a number of rows (int), or bytes such as '100 MB' (str), not a bool")
    if not isinstance(step_size, str):
        try:
            step_size = operator.index(step_size)  # int, numpy integers
        except TypeError:
            pass
    if isinstance(step_size, int):
        if step_size < 1:
            raise ValueError("step_size: at least one row")
        return step_size, total
    want = _parse_bytes(step_size)
    keep = None if not fields else tuple(fields)
    stored = sum(b["stored_bytes"] or 0 for b in c.buffers()
                 if keep is None or (b["field"] or "").split(".")[0] in keep)
    if total == 0 or stored == 0:
        return max(total, 1), total
    return max(1, min(total, want * total // stored)), total


def iterate(path_or_url, step_size="100 MB", fields=None, *, cache=None, budget=None,
            storage_options=None, confined=False, prefetch=True, **kwargs):
    """Yields a container's rows as ``ak.Array`` chunks of ``step_size``
    (a number of rows, or bytes such as ``"100 MB"``: about that much of the
    selected fields' stored buffers per chunk), as ``uproot.iterate`` does.

    ``fields`` (top-level record fields) selects the columns read. Each
    chunk is read (only the byte ranges its rows need, through the cache,
    the GIL released) and packed in memory; with ``prefetch`` the next
    chunk is read in a background thread while the current one is
    processed. ``path_or_url`` is a path, URL, list, or an open container
    (one unpickled in a worker); other keyword arguments go to
    ``ak.from_buffers``."""
    import awkward as ak
    from concurrent.futures import ThreadPoolExecutor

    if isinstance(path_or_url, Container):
        c = path_or_url
    else:
        c = open(path_or_url, cache=cache, budget=budget,
                 storage_options=storage_options, confined=confined)
    fields = [fields] if isinstance(fields, str) else (list(fields) if fields else None)
    rows, total = _step_rows(c, step_size, fields)
    steps = [(a, min(a + rows, total)) for a in range(0, total, rows)]

    def chunk(container):
        return from_buffers(container, **kwargs)

    if not prefetch:
        for a, b in steps:
            yield chunk(c._rows(a, b, fields))
        return
    with ThreadPoolExecutor(1, thread_name_prefix="akbuf-iterate") as pool:
        ahead = pool.submit(c._rows, *steps[0], fields) if steps else None
        for i in range(len(steps)):
            current = ahead.result()
            ahead = pool.submit(c._rows, *steps[i + 1], fields) if i + 1 < len(steps) else None
            yield chunk(current)


def _from_user(ak, form, length, container, cache, budget, kwargs):
    """``from_buffers(form, length, container)`` over akbuf's cache."""
    import json

    from ._akbuf import open_buffers

    if container is None or length is None:
        raise TypeError("from_buffers(form, length, container): give all three, or a path alone")
    if isinstance(form, str):
        form = ak.forms.from_json(form)
    elif isinstance(form, dict):
        form = ak.forms.from_dict(form)
    buffer_key = kwargs.pop("buffer_key", "{form_key}-{attribute}")
    byteorder = kwargs.pop("byteorder", "<")
    metadata = {"form": form.to_dict(), "length": int(length), "buffer_key": buffer_key,
                "byteorder": ">" if byteorder in (">", "big") else "<"}
    c = open_buffers(json.dumps(metadata), container, cache=cache, budget=budget)
    kwargs.setdefault("enable_virtualarray_caching", False)
    kwargs.setdefault("byteorder", c.byteorder)
    return _from_buffers(ak, form, int(length), c, c.buffer_key, kwargs)


class _Loaded:
    """A container's buffers, each read when awkward asks for its key (not
    when it touches the values): for the forms awkward cannot yet build as
    virtual arrays."""

    def __init__(self, container):
        self.container = container

    def __getitem__(self, key):
        return self.container.load(key)

    def __contains__(self, key):
        return key in self.container


def _from_buffers(ak, form, length, container, buffer_key, kwargs):
    try:
        return ak.from_buffers(form, length, container, buffer_key=buffer_key, **kwargs)
    except (TypeError, ValueError) as lazy_failed:
        # awkward 2.14 cannot build some forms over callables (an
        # IndexedArray over an inner shape: "cannot compare unknown lengths
        # against known values"); read the buffers the form needs instead,
        # still through akbuf's cache and without copies.
        try:
            return ak.from_buffers(form, length, _Loaded(container), buffer_key=buffer_key, **kwargs)
        except Error:
            raise
        except Exception:
            raise lazy_failed from None
