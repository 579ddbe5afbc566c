"""akbuf.dask against dask-awkward and distributed: a LocalCluster of two
worker processes on loopback, sums equal to awkward's eager result, and the
buffers each worker read: exactly the ones the graph needs, once each."""

import os
import shutil

import awkward as ak
import pytest

import akbuf

dak = pytest.importorskip("dask_awkward")
distributed = pytest.importorskip("distributed")
import akbuf.dask  # noqa: E402

from test_akbuf import EVENTS, PARTITIONED, eager  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def needed(path, fields=("jets", "jets.pt")):
    """(path, partition, key) of the jets offsets and pt of each partition."""
    c = akbuf.open(path, cache=akbuf.Cache())
    return sorted((path, b["partition"] or 0, b["key"]) for b in c.buffers() if b["field"] in fields)


def worker_reads(client):
    per_worker = client.run(akbuf.dask.reads)
    return per_worker, sorted(r for rs in per_worker.values() for r in rs)


@pytest.mark.parametrize("kind", ["partitioned", "folder"])
def test_a_sum_on_two_workers_reads_only_the_needed_buffers(client, kind, tmp_path):
    if kind == "partitioned":
        path = os.path.join(PARTITIONED, "events_unequal")
        whole = eager(path)
        lengths = akbuf.open(path, cache=akbuf.Cache()).length
    else:
        path = str(tmp_path / "runs")
        os.makedirs(path)
        for name in ("a", "b", "c"):
            shutil.copytree(EVENTS, os.path.join(path, name))
        whole = ak.concatenate([eager(EVENTS)] * 3)
        lengths = [len(eager(EVENTS))] * 3
    # awkward's eager result, in float64 (float32 sums depend on the order
    # of the additions, which partitions change)
    want = ak.sum(ak.values_astype(whole.jets.pt, "float64"))
    client.run(akbuf.dask._clear_reads)
    events = akbuf.dask.from_akbuf(path)
    assert events.npartitions == len(akbuf.open(path, cache=akbuf.Cache()).length)
    got = dak.sum(dak.values_astype(events.jets.pt, "float64")).compute()
    assert got == pytest.approx(want, rel=1e-12)
    per_worker, reads = worker_reads(client)
    assert reads == needed(path), reads
    # each once per worker
    for rs in per_worker.values():
        assert len(rs) == len(set(rs))


def test_columns_narrow_what_a_partition_can_read(client):
    path = os.path.join(PARTITIONED, "events_unequal")
    events = akbuf.dask.from_akbuf(path, columns=["met"])
    assert events.fields == ["met"]
    got = dak.sum(events.met).compute()
    assert got == pytest.approx(ak.sum(eager(path).met), rel=1e-6)


def test_columns_that_match_no_field_or_are_not_paths_are_refused():
    with pytest.raises(ValueError, match="matches no field"):
        akbuf.dask.from_akbuf([EVENTS], columns=["jets.nope"])
    with pytest.raises(TypeError):
        akbuf.dask.from_akbuf([EVENTS], columns=[3])
    # One column as a string is that column (not its letters).
    one = akbuf.dask.from_akbuf([EVENTS], columns="jets.pt").compute(scheduler="sync")
    assert one.fields == ["jets"] and one.jets.fields == ["pt"]
    assert ak.to_list(one.jets.pt) == ak.to_list(eager(EVENTS).jets.pt)
