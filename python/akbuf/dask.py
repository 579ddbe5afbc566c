"""akbuf containers as dask-awkward collections.

``from_akbuf(paths_or_urls, columns=None)`` returns a ``dask_awkward.Array``
with one dask partition per akbuf partition (of each container), built with
``dask_awkward.from_map``. Its column projection reaches akbuf: a graph that
uses ``jets.pt`` makes each task read exactly the jets offsets and ``pt``
buffers of its partition, through its worker process's default akbuf cache
(a task ships the container's location, never a buffer: containers pickle as
their locations), so every task in a worker shares one cache and reads each
key once::

    import akbuf.dask, dask_awkward as dak

    events = akbuf.dask.from_akbuf(["run1/events", "s3://bucket/run2/events"])
    dak.sum(events.jets.pt).compute()      # reads jets offsets and pt only

``reads()`` lists the buffer keys this process's tasks read (to check it on
workers: ``client.run(akbuf.dask.reads)``).

Needs ``dask-awkward`` (and ``distributed`` for a cluster).
"""

import threading

import awkward as ak
from dask_awkward.lib.io.columnar import ColumnProjectionMixin

from . import Container, _from_buffers, open

__all__ = ["from_akbuf", "reads"]

_READS = []
_READS_LOCK = threading.Lock()


def reads():
    """The (location, partition, key) of every buffer the tasks of this
    process read, in order."""
    with _READS_LOCK:
        return list(_READS)


def _clear_reads():
    with _READS_LOCK:
        _READS.clear()


class _Partitions:
    """The partitions of containers: what each dask partition reads."""

    def __init__(self, paths, storage_options, confined):
        self.paths = list(paths)
        self.storage_options = storage_options
        self.confined = confined

    def open(self, path):
        return open(path, storage_options=self.storage_options, confined=self.confined)


class _FromAkbuf(ColumnProjectionMixin):
    """Reads one partition of one container: the columns the graph needs,
    eagerly (each a read of its buffers through the worker's cache)."""

    def __init__(self, form, where, columns=None, behavior=None, attrs=None):
        self._form = form
        self.where = where
        self.columns = columns
        self._behavior = behavior
        self._attrs = attrs

    @property
    def form(self):
        return self._form

    @property
    def behavior(self):
        return self._behavior

    @property
    def attrs(self):
        return self._attrs

    @property
    def use_optimization(self):
        return True

    def project_columns(self, columns):
        form = self._form.select_columns(sorted(columns))
        return _FromAkbuf(form, self.where, frozenset(columns), self._behavior, self._attrs)

    def project_manually(self, columns):
        return self.project_columns(columns)

    def __call__(self, part):
        path, index = part
        c = self.where.open(path)
        length = c.length
        lengths = length if isinstance(length, list) else [length]
        key = c.buffer_key.replace("{partition}", str(c.partition_start + index))
        form = self._form
        before = {b["key"] for b in c.buffers() if b["loaded"]}
        if c.is_dataset:
            # a dataset's containers key their forms apart: this partition's
            own = ak.forms.from_dict(c.partition_form(index))
            form = own.select_columns(sorted(self.columns)) if self.columns is not None else own
        if lengths[index] == 0:
            # an empty partition (awkward 1 wrote no buffers for it)
            return ak.Array(form.length_zero_array(highlevel=False), behavior=self._behavior,
                            attrs=self._attrs)
        array = _from_buffers(ak, form, lengths[index], c, key,
                              {"byteorder": c.byteorder, "enable_virtualarray_caching": False,
                               "behavior": self._behavior, "attrs": self._attrs})
        array = ak.materialize(array)
        loaded = [b["key"] for b in c.buffers() if b["loaded"] and b["key"] not in before]
        with _READS_LOCK:
            _READS.extend((path, index, k) for k in loaded if _in_form(k, form, key))
        return array


def _in_form(buffer_key, form, template):
    """Whether `buffer_key` is one of `form`'s buffers under `template`."""
    keys = set()
    for node in _walk(form):
        if node.form_key is None:
            continue
        for attribute in ("data", "offsets", "starts", "stops", "index", "mask", "tags"):
            keys.add(template.replace("{form_key}", node.form_key).replace("{attribute}", attribute))
    return buffer_key in keys


def _walk(form):
    yield form
    if hasattr(form, "contents"):
        for c in form.contents:
            yield from _walk(c)
    elif hasattr(form, "content"):
        yield from _walk(form.content)


def from_akbuf(paths_or_urls, columns=None, *, storage_options=None, confined=False,
               behavior=None, attrs=None):
    """A ``dask_awkward.Array`` over akbuf containers: one dask partition per
    partition of each container (a container not partitioned is one), in
    order. ``columns`` (dotted paths such as ``"jets.pt"``) narrows what can
    be read; dask-awkward's optimisation narrows it further to what the
    graph uses. Opening here reads each container's metadata only."""
    import dask_awkward as dak

    paths = [paths_or_urls] if isinstance(paths_or_urls, str) or hasattr(paths_or_urls, "__fspath__") \
        else list(paths_or_urls)
    paths = [str(p) if not isinstance(p, str) else p for p in paths]
    if not paths:
        raise ValueError("from_akbuf: no container")
    where = _Partitions(paths, storage_options, confined)
    parts, divisions, form = [], [0], None
    for path in paths:
        c = where.open(path)
        length = c.length
        lengths = length if isinstance(length, list) else [length]
        f = ak.forms.from_dict(c.form)
        if form is None:
            form = f
        elif str(f.type) != str(form.type):
            raise ValueError(f"from_akbuf: {path} has the type {f.type}, not {form.type}")
        for i, n in enumerate(lengths):
            parts.append((path, i))
            divisions.append(divisions[-1] + n)
    if columns is not None:
        columns = [columns] if isinstance(columns, str) else list(columns)
        for column in columns:
            if not isinstance(column, str):
                raise TypeError(f"from_akbuf: a column is a dotted path (str), not {column!r}")
            if not form.select_columns([column]).columns():
                raise ValueError(f"from_akbuf: the column {column!r} matches no field "
                                 f"(columns: {', '.join(form.columns())})")
        form = form.select_columns(sorted(columns))
    fn = _FromAkbuf(form, where, frozenset(columns) if columns is not None else None, behavior, attrs)
    return dak.from_map(fn, parts, label="from-akbuf", divisions=tuple(divisions))
