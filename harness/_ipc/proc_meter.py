"""A process's CPU seconds and peak RSS over one window, read from /proc.

CPU time comes from /proc/PID/schedstat (nanoseconds): the clock-tick
counters psutil reads move in 10 ms steps, too coarse for sub-second windows.
The peak (VmHWM) is reset at the window start through /proc/PID/clear_refs,
so each window gets its own peak. Used by the runner (with a psutil fallback
where /proc cannot say) and by the load-generator child of a paired run, so
it imports neither psutil nor Twisted.
"""

from __future__ import annotations

import contextlib
from pathlib import Path


class ProcMeter:
    """A server's CPU seconds (/proc/PID/schedstat, ns) and peak RSS (VmHWM, reset through
    clear_refs at the window start) over one window; None where /proc cannot say."""

    def __init__(self, pid: int | None) -> None:
        base = Path(f"/proc/{pid}") if pid is not None else None
        self._schedstat = base / "schedstat" if base else None
        self._status = base / "status" if base else None
        self._clear_refs = base / "clear_refs" if base else None
        self._cpu_start: float | None = None

    def _cpu_s(self) -> float | None:
        if self._schedstat is None:
            return None
        try:
            return int(self._schedstat.read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            return None

    def start(self) -> bool:
        """Mark the window's start; False when /proc cannot give the CPU time."""
        if self._clear_refs is not None:
            with contextlib.suppress(OSError):
                self._clear_refs.write_text("5")
        self._cpu_start = self._cpu_s()
        return self._cpu_start is not None

    def stop(self) -> tuple[float | None, int | None]:
        """(CPU seconds since `start`, peak RSS bytes)."""
        end = self._cpu_s()
        cpu = end - self._cpu_start if end is not None and self._cpu_start is not None else None
        rss = None
        if self._status is not None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                for line in self._status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        rss = int(line.split()[1]) * 1024
        return cpu, rss
