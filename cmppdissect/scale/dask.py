"""The Dask driver: hosts as tasks on a ``distributed`` cluster, their parts merged here.

``analyze_many(paths)`` (and ``cmppdissect analyze --dask``) groups the files into hosts
(:mod:`.hosts`), submits one :func:`~cmppdissect.scale.parts.analyze_host` task per host,
gathers the parts as they finish (a progress callback is told of each) and merges them
(:mod:`.merge`). This is the only module that imports Dask.

With a Parquet dataset, decoding every PDU into its row costs some 60 times what the engine
itself does, so with more workers than hosts a host's files are also cut into shares
(:func:`shares`, :func:`_tasks`), and one
:func:`~cmppdissect.scale.parts.host_pdus` task per share writes the PDU rows of its files
(the host's own task then writes the transactions and sessions): one huge host no longer
runs on one worker. Each share's engine reads the chain from its first file, which keeps
every row the one engine's (the chain's state at the share's first file is the engine's
state there); the engine's pass is the cheap part.

Fault tolerance is Dask's: a worker that dies takes its task to another worker (the
scheduler's ``allowed-failures``, 3 by default), and an exception is tried once more
(``retries=1``); a task is pure (the same files give the same part) and writes its Parquet
files under temporary names first, so running it again changes nothing. A host whose task
still fails is a finding in the report, and the report then says no section is merged. A
share whose task fails is a finding too, its host's entry in the report says which files'
PDU rows the dataset lacks, and the report's sections stand.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from multiprocessing import resource_tracker
from typing import Any

import dask
from distributed import Client, Future, LocalCluster, as_completed
from distributed.comm.addressing import parse_address, parse_host_port

from cmppdissect.protocol.commands import DEFAULT_PORTS
from cmppdissect.protocol.version import parse_version
from cmppdissect.scale.hosts import Host, group_hosts
from cmppdissect.scale.merge import merge_parts
from cmppdissect.scale.parts import HostPart, analyze_host, host_pdus

__all__ = ["analyze_many", "local_client", "shares"]

Progress = Callable[[int, int, str], None]
"""Told (tasks done, tasks in all, the host of the task just done) as each task ends, and
(0, tasks in all, "") once they are submitted."""


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
            _quiet_for_good()
            _kill_workers(cluster)
            raise


def _quiet_for_good() -> None:
    """Ctrl-C: Dask's logs stay silent while this process ends. The cluster silences them
    only until it is closed, and its event loop goes on closing the comms of the workers
    just killed after that: a traceback ("Batched Comm Closed") once reached stderr. A
    filter, which the cluster's closing does not undo (it puts back its handlers' levels)."""
    for handler in logging.getLogger("distributed").handlers:
        handler.addFilter(lambda record: record.levelno >= logging.CRITICAL)


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
    (one per core by default; never more than there are tasks), started once the files
    and ``parquet`` are checked. A host is one task, and with ``parquet`` and more workers
    than hosts its PDU rows are written by one more task per share of its files
    (:func:`shares`).

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
    workers = workers or os.cpu_count() or 1
    if client is None:  # never more processes than tasks
        workers = min(workers, len(_tasks(groups, out, workers)))
    try:
        parts, failed = _run(groups, settings, out, client, workers, progress)
    except KeyboardInterrupt:
        if out is not None and client is None:  # the local workers are gone: tidy up
            from cmppdissect.scale.dataset import discard_staging

            discard_staging(out, [h.name for h in groups])
        raise
    if out is not None:  # what tasks that failed for good left half written (every task ended)
        from cmppdissect.scale.dataset import discard_staging

        discard_staging(out, [*failed, *(p.host for p in parts if p.dataset_failed)])
    return merge_parts(parts, failed=failed, max_report_listed=listed)


def shares(files: int, hosts: int, workers: int) -> list[tuple[int, int]]:
    """A host's files (positions in its chain) cut into shares whose PDU rows are written by
    a task each: twice as many as the workers a host has to itself (``2 * workers / hosts``,
    rounded up), so that the worker that writes the host's transactions takes shares too
    once done (one host of 8 files on 2 workers: 1.15x faster with 4 shares than with 2,
    slower with 8, each share's engine pass being one more); never more than its files, as
    even as the count of files allows (a chain's files are alike: rotated at one size or
    one period)."""
    n = max(1, min(files, -(-2 * workers // max(1, hosts))))
    cuts = [files * k // n for k in range(n + 1)]
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


_Task = tuple[Host, tuple[int, int] | None]  # a host's own task, or the PDU rows of a share


def _tasks(groups: Sequence[Host], parquet: str | None, workers: int) -> list[_Task]:
    """The tasks of a run: a task per host (its part, and with ``parquet`` its rows), and
    with ``parquet`` and more workers than hosts, one per share of each host's files (its
    PDU rows: the bulk of the decoding, spread over the workers, see :func:`shares`; the
    host's own task then writes its transactions and sessions). With as many hosts as
    workers or more, the hosts keep every worker busy, and a share would cost its engine
    pass, and the decoding of the PDUs that the PDU table and the transactions share, once
    more (4 hosts of 8 files on 1 worker: 62-70 s with a share each, 53 s without)."""
    tasks: list[_Task] = [(host, None) for host in groups]
    if _split(groups, parquet, workers):
        tasks += [(host, share) for host in groups
                  for share in shares(len(host.paths), len(groups), workers)]
    return tasks


def _split(groups: Sequence[Host], parquet: str | None, workers: int) -> bool:
    """Whether the hosts' PDU rows are written by shares of their files (:func:`_tasks`)."""
    return parquet is not None and workers > len(groups)


def _unwritten(shares: Sequence[tuple[int, int, str]], files: int | None) -> list[str]:
    """One line per failed share: which files of the host's chain (``files`` long, when its
    own task said) have no PDU rows in the dataset. A share is cut from the files given,
    unreadable ones too, which the chain leaves out: its task wrote the files it has of the
    chain, so a share past the chain's end names fewer files, or none."""
    lines = []
    for first, stop, why in shares:
        stop = stop if files is None else min(stop, files)
        if stop <= first:
            continue
        which = f"file {stop}" if stop == first + 1 else f"files {first + 1} to {stop}"
        lines.append(f"the PDU rows of {which} of its chain were not written: {why}")
    return lines


def _run(groups: Sequence[Host], settings: Mapping[str, Any], parquet: str | None,
         client: Client | str | None, workers: int, progress: Progress | None
         ) -> tuple[list[HostPart], dict[str, str]]:
    run = uuid.uuid4().hex  # the tasks' keys: this run's own, on a cluster shared with others
    with _connected(client, workers) as c:
        if client is not None:
            workers = max(1, len(c.scheduler_info().get("workers", {})))
        tasks = _tasks(groups, parquet, workers)
        split = _split(groups, parquet, workers)
        index = {host.name: i for i, host in enumerate(groups)}
        futures: dict[Future[Any], _Task] = {}
        for host, share in tasks:
            i = index[host.name]
            future: Future[Any]
            if share is None:
                future = c.submit(analyze_host, host, settings, parquet, pure=False,
                                  retries=1, pdus=not split,
                                  key=f"cmppdissect-host-{i}-{run}")
            else:
                future = c.submit(host_pdus, host, settings, parquet, *share, pure=False,
                                  retries=1, key=f"cmppdissect-host-{i}-pdus-{share[0]}-{run}")
            futures[future] = (host, share)
        if progress is not None:
            progress(0, len(futures), "")
        done: dict[str, HostPart] = {}
        failed: dict[str, str] = {}
        rows: dict[str, int] = {}
        wrote: set[str] = set()  # hosts of which a share's task wrote its PDU rows
        unwritten: dict[str, list[tuple[int, int, str]]] = {}  # failed shares: files, why
        for count, future in enumerate(as_completed(list(futures)), 1):
            host, share = futures[future]
            ok = future.status == "finished"
            if share is None and ok:
                done[host.name] = future.result()
            elif share is None:
                failed[host.name] = _one_line(future.exception())
            elif ok:
                rows[host.name] = rows.get(host.name, 0) + future.result()
                wrote.add(host.name)
            else:
                unwritten.setdefault(host.name, []).append(
                    (*share, _one_line(future.exception())))
            if progress is not None:
                progress(count, len(futures), host.name)
    for name in failed:  # what its shares left in the dataset, which the report must say
        failed[name] = "; ".join([
            failed[name],
            *(["the dataset holds its PDU rows, not its transactions and sessions"]
              if name in wrote else []),
            *_unwritten(unwritten.get(name, []), None)])
    for name, part in done.items():
        if parquet is not None:
            part.parquet_rows = {"pdus": rows.get(name, 0), **part.parquet_rows}
        part.dataset_failed = _unwritten(unwritten.get(name, []), len(part.paths))
    return [done[h.name] for h in groups if h.name in done], failed
