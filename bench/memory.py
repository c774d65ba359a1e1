"""Resident memory of the service processes, sampled in a thread while the loads run."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

MiB = 1024 * 1024


def rss_of_tree(pid: int) -> int:
    """RSS in bytes of a process and its children (several server workers count as one service)."""
    try:
        root = psutil.Process(pid)
        total = root.memory_info().rss
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += child.memory_info().rss
        return int(total)
    except psutil.NoSuchProcess:
        return 0


def cpu_seconds_of_tree(pid: int) -> float:
    """CPU seconds (user + system) a process and its children have used so far."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    return sum(_cpu(process) for process in processes)


def server_cpu_seconds() -> dict[str, float]:
    """CPU seconds the PostgreSQL server and the RabbitMQ node of this machine have used so far.

    PostgreSQL's: the postmaster, its live backends and the backends it has reaped (a connection
    closed between two readings still counts). RabbitMQ's: its node's VM (`-s rabbit boot`), not
    the short-lived VMs of `rabbitmqctl`. Whatever else these servers do counts too: read on a
    quiet machine."""
    spent = {"postgresql": 0.0, "rabbitmq": 0.0}
    for process in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            name, cmdline = process.info["name"], process.info["cmdline"] or []
            if name == "postgres" and process.ppid() == 1:
                spent["postgresql"] += _with_reaped_children(process)
                spent["postgresql"] += sum(
                    _cpu(child) for child in process.children(recursive=True)
                )
            elif name == "beam.smp" and "rabbit" in cmdline and "boot" in cmdline:
                spent["rabbitmq"] += _with_reaped_children(process)
    return spent


def _cpu(process: psutil.Process) -> float:
    with contextlib.suppress(psutil.Error):
        times = process.cpu_times()
        return float(times.user + times.system)
    return 0.0


def _with_reaped_children(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system + times.children_user + times.children_system)


@dataclass
class MemorySampler:
    """Samples every process' RSS every `interval` seconds; peaks are kept per phase."""

    pids: Callable[[], dict[str, int]]  # process name -> pid, asked on every sample
    interval: float = 0.2
    phase: str = "idle"
    peaks: dict[str, dict[str, int]] = field(default_factory=dict)  # phase -> name -> bytes
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sampling in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)

    def enter(self, phase: str) -> None:
        """Attribute the samples from now on to `phase`."""
        self.sample()
        self.phase = phase
        self.sample()

    def sample(self) -> None:
        """Take one sample now."""
        phase = self.peaks.setdefault(self.phase, {})
        for name, pid in self.pids().items():
            rss = rss_of_tree(pid)
            if rss > phase.get(name, 0):
                phase[name] = rss

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def peak(self, name: str, phases: list[str] | None = None) -> int:
        """The highest RSS seen of one process over the given phases (all when None)."""
        chosen = self.peaks if phases is None else {p: self.peaks.get(p, {}) for p in phases}
        return max((by_name.get(name, 0) for by_name in chosen.values()), default=0)


def wait_quiet(seconds: float) -> None:
    """Let the processes settle (idle figures are taken after this)."""
    time.sleep(seconds)
