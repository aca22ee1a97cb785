"""The Dask driver: hosts as tasks on a ``distributed`` cluster, their parts merged here.

``analyze_many(paths)`` (and ``cmppdissect analyze --dask``) groups the files into hosts
(:mod:`.hosts`), submits one :func:`~cmppdissect.scale.parts.analyze_host` task per host,
gathers the parts as they finish (a progress callback is told of each) and merges them
(:mod:`.merge`). This is the only module that imports Dask.

Fault tolerance is Dask's: a worker that dies takes its task to another worker (the
scheduler's ``allowed-failures``, 3 by default), and an exception is tried once more
(``retries=1``); a task is pure (the same files give the same part) and writes its Parquet
files under temporary names first, so running it again changes nothing. A host whose task
still fails is a finding in the report, and the report then says no section is merged.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import dask
from distributed import Client, LocalCluster, as_completed

from cmppdissect.protocol.commands import DEFAULT_PORTS
from cmppdissect.protocol.version import parse_version
from cmppdissect.scale.hosts import Host, group_hosts
from cmppdissect.scale.merge import merge_parts
from cmppdissect.scale.parts import HostPart, analyze_host

__all__ = ["analyze_many", "local_client"]

Progress = Callable[[int, int, str], None]
"""Told (hosts done, hosts in all, the host just done) as each task ends."""


@contextlib.contextmanager
def local_client(workers: int | None = None) -> Iterator[Client]:
    """An embedded cluster for one run: ``workers`` processes (one per core by default),
    one thread each (the engine holds the GIL), on this machine only. The workers' sampling
    profiler is off: it interrupts the engine every 10 ms to walk its stack (about 15% of a
    run in bench/bench_scale.py)."""
    n = workers or os.cpu_count() or 1
    quiet = {"distributed.worker.profile.enabled": False}
    with dask.config.set(quiet), LocalCluster(n_workers=n, threads_per_worker=1,
                                              processes=True, host="127.0.0.1",
                                              dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        yield client


@contextlib.contextmanager
def _connected(client: Client | str | None) -> Iterator[Client]:
    if isinstance(client, Client):
        yield client
    elif client is None:
        with local_client() as made:
            yield made
    else:
        with Client(client) as made:
            yield made


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def analyze_many(paths: Sequence[str | os.PathLike[str]] = (), *,
                 client: Client | str | None = None,
                 hosts: Mapping[str, Sequence[str | os.PathLike[str]]] | None = None,
                 host_pattern: str | None = None, parquet: str | os.PathLike[str] | None = None,
                 progress: Progress | None = None, ports: tuple[int, ...] = (),
                 version: str | None = None, timeout_s: float = 60.0,
                 secrets: Mapping[str, str] | None = None, heuristic: bool = True,
                 **limits: Any) -> dict[str, Any]:
    """The ``--report json`` document of many capture files from many hosts, analysed on a
    Dask cluster: ``client`` a :class:`distributed.Client`, a scheduler address
    (``"tcp://host:8786"``), or None for an embedded local cluster (a process per core).

    Hosts: the files of one directory by default, or by ``host_pattern`` (a regex on the
    path, its first group naming the host), or ``hosts={name: [paths]}`` (see
    :mod:`cmppdissect.scale.hosts`). ``parquet``: also write the dataset there
    (:mod:`cmppdissect.scale.dataset`). The other settings are :func:`cmppdissect.analyze`'s.

    The report equals the one engine's over every host's chain (``cmppdissect.analyze([
    chain, chain, ...]).report()``, which is ``analyze(all_files)`` unless a host's clock ran
    backwards across a rotation) in the sections its ``scale`` key lists as merged
    (docs/scale.md). ``ValueError`` for hosts that cannot be formed (a file twice, a pattern
    that does not match)."""
    groups = group_hosts(list(paths), host_pattern=host_pattern, hosts=hosts)
    listed = int(limits.get("max_report_listed", 1000))  # max_loose_ends: parts.py
    settings = {"ports": (*DEFAULT_PORTS, *ports), "version": parse_version(version),
                "timeout_s": timeout_s, "secrets": dict(secrets or {}),
                "heuristic": heuristic, **limits}
    out = None
    if parquet is not None:
        out = os.path.abspath(os.fspath(parquet))
        os.makedirs(out, exist_ok=True)
    parts, failed = _run(groups, settings, out, client, progress)
    return merge_parts(parts, failed=failed, max_report_listed=listed)


def _run(groups: Sequence[Host], settings: Mapping[str, Any], parquet: str | None,
         client: Client | str | None, progress: Progress | None
         ) -> tuple[list[HostPart], dict[str, str]]:
    run = uuid.uuid4().hex  # the tasks' keys: this run's own, on a cluster shared with others
    with _connected(client) as c:
        futures = {c.submit(analyze_host, host, settings, parquet, pure=False, retries=1,
                            key=f"cmppdissect-host-{i}-{run}"): host
                   for i, host in enumerate(groups)}
        done: dict[str, HostPart] = {}
        failed: dict[str, str] = {}
        for count, future in enumerate(as_completed(list(futures)), 1):
            host = futures[future]
            if future.status == "finished":
                done[host.name] = future.result()
            else:
                failed[host.name] = _one_line(future.exception())
            if progress is not None:
                progress(count, len(futures), host.name)
    return [done[h.name] for h in groups if h.name in done], failed
