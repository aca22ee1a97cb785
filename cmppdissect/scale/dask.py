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
import logging
import os
import signal
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from multiprocessing import resource_tracker
from typing import Any

import dask
from distributed import Client, LocalCluster, as_completed
from distributed.comm.addressing import parse_address, parse_host_port

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
    run in bench/bench_scale.py). Its logs are silenced (a failed task is a finding of the
    report), Ctrl-C reaches this process only (:func:`_shielded`), and ends the workers at
    once."""
    if workers is not None and workers < 1:
        raise ValueError(f"workers={workers}: give 1 or more (None: one per core)")
    n = workers or os.cpu_count() or 1
    quiet = {"distributed.worker.profile.enabled": False}
    with dask.config.set(quiet), contextlib.ExitStack() as stack:
        with _shielded():
            cluster = stack.enter_context(LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=":0", silence_logs=logging.CRITICAL))
            client = stack.enter_context(Client(cluster))
        try:
            yield client
        except KeyboardInterrupt:
            _kill_workers(cluster)
            raise


def _kill_workers(cluster: LocalCluster) -> None:
    """Ctrl-C: end the worker processes at once. A worker running a host's task holds the
    GIL in the compiled engine and answers no request to stop, so the cluster's own shutdown
    would wait seconds for each before killing it."""
    for nanny in list(cluster.workers.values()):
        pid = getattr(nanny, "pid", None)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def _shielded() -> Iterator[None]:
    """Keep Ctrl-C from the worker processes: the terminal sends SIGINT to the whole
    foreground process group, and a worker interrupted while it starts or runs a task prints
    tracebacks and leaves the cluster's shutdown half done. SIGINT is blocked in this thread
    while the cluster starts, so the threads it starts (its event loop, the threads that
    start worker processes, then and on a restart) and the processes they start inherit the
    block; the Ctrl-C reaches this thread alone, once unblocked (a KeyboardInterrupt here,
    which closes the cluster)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # multiprocessing's resource tracker, started with the first worker, unblocks SIGINT in
    # the thread that starts it: started here first, it leaves the block alone.
    resource_tracker.ensure_running()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


@contextlib.contextmanager
def _connected(client: Client | str | None, workers: int) -> Iterator[Client]:
    if isinstance(client, Client):
        yield client
    elif client is None:
        with local_client(workers) as made:
            yield made
    else:
        with _scheduler(client) as made:
            yield made


def _scheduler(address: str) -> Client:
    """A client of the scheduler at ``address``. ``ValueError`` naming it for an address
    that is none (distributed's own words: a missing port, an unknown scheme, TLS without
    its settings); ``OSError`` when nothing answers there (after distributed's connect
    timeout, ``distributed.comm.timeouts.connect``, 30 s by default)."""
    try:
        scheme, location = parse_address(address)
        if scheme in ("tcp", "tls", "ws", "wss"):
            port = parse_host_port(location)[1]
            if not 0 < port < 65536:
                raise ValueError(f"port {port} is out of range")
        return Client(address)
    except (ValueError, TypeError) as exc:
        why = " ".join(str(exc).split())
        raise ValueError(f"scheduler {address}: not a scheduler address ({why})") from None


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
                 workers: int | None = None, **limits: Any) -> dict[str, Any]:
    """The ``--report json`` document of many capture files from many hosts, analysed on a
    Dask cluster: ``client`` a :class:`distributed.Client`, a scheduler address
    (``"tcp://host:8786"``), or None for an embedded local cluster of ``workers`` processes
    (one per core by default; never more than there are hosts: one host is one task),
    started once the files and ``parquet`` are checked.

    Hosts: the files of one directory by default, or by ``host_pattern`` (a regex on the
    path, its first group naming the host), or ``hosts={name: [paths]}`` (see
    :mod:`cmppdissect.scale.hosts`). ``parquet``: also write the dataset there
    (:mod:`cmppdissect.scale.dataset`). The other settings are :func:`cmppdissect.analyze`'s.

    The report equals the one engine's over every host's chain (``cmppdissect.analyze([
    chain, chain, ...]).report()``, which is ``analyze(all_files)`` unless a host's clock ran
    backwards across a rotation) in the sections its ``scale`` key lists as merged
    (docs/scale.md). ``ValueError`` for hosts that cannot be formed (a file twice or missing,
    a pattern that does not match), a ``parquet`` directory that holds a dataset already, or
    a scheduler address that is none; ``OSError`` for a ``parquet`` directory that cannot be
    written or a scheduler that does not answer."""
    if workers is not None and workers < 1:
        raise ValueError(f"workers={workers}: give 1 or more (None: one per core)")
    groups = group_hosts(list(paths), host_pattern=host_pattern, hosts=hosts)
    listed = int(limits.get("max_report_listed", 1000))  # max_loose_ends: parts.py
    settings = {"ports": (*DEFAULT_PORTS, *ports), "version": parse_version(version),
                "timeout_s": timeout_s, "secrets": dict(secrets or {}),
                "heuristic": heuristic, **limits}
    out = None
    if parquet is not None:
        from cmppdissect.scale.dataset import prepare

        out = prepare(parquet)
    workers = min(workers or os.cpu_count() or 1, len(groups))
    try:
        parts, failed = _run(groups, settings, out, client, workers, progress)
    except KeyboardInterrupt:
        if out is not None and client is None:  # the local workers are gone: tidy up
            from cmppdissect.scale.dataset import discard_staging

            discard_staging(out, [h.name for h in groups])
        raise
    return merge_parts(parts, failed=failed, max_report_listed=listed)


def _run(groups: Sequence[Host], settings: Mapping[str, Any], parquet: str | None,
         client: Client | str | None, workers: int, progress: Progress | None
         ) -> tuple[list[HostPart], dict[str, str]]:
    run = uuid.uuid4().hex  # the tasks' keys: this run's own, on a cluster shared with others
    with _connected(client, workers) as c:
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
