"""Storage records and file helpers shared by the storage tests (not a test module)."""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage import SampleRecord, StudyRecord, TrialRecord

T0 = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
PARAMS = {"message_bytes": 1024, "connections": 16, "pipeline": 8}
WORKLOAD: dict[str, object] = {
    "name": "echo",
    "params": PARAMS,
    "server_factory": "harness._server.echo:factory",
    "throughput_unit": "msgs/s",
}
SETTINGS = {
    "reactor": "epoll",
    "read_buffer_bytes": 65536,
    "so_sndbuf_bytes": None,
    "tcp_nodelay": False,
    "flush_delay_ms": None,
}


def study_record(name: str = "echo-1k", **changes: object) -> StudyRecord:
    fields: dict[str, object] = {
        "name": name,
        "workload": WORKLOAD,
        "objectives": ("throughput",),
        "harness_format": 1,
        "environment": {"cpu_model": "test cpu", "cpu_count": 2, "sysctls": {"somaxconn": 4096}},
        "created_at": T0,
    }
    fields.update(changes)
    return StudyRecord(**fields)  # type: ignore[arg-type]


def sample(repeat: int, throughput: float = 1000.0, **changes: object) -> SampleRecord:
    fields: dict[str, object] = {
        "repeat": repeat,
        "window_s": 0.5,
        "messages": int(throughput / 2),
        "bytes_received": int(throughput / 2) * 1024,
        "throughput_msgs_s": throughput,
        "throughput_mb_s": throughput * 1024 / 1e6,
        "latency_p50_ms": 0.1,
        "latency_p90_ms": 0.2,
        "latency_p99_ms": 0.5,
        "latency_p999_ms": 1.5,
        "latency_histogram": f"HISTFAAAA{repeat}",
        "server_cpu_s": 0.4,
        "server_rss_peak_bytes": 30_000_000,
        "client_cpu_share": 0.5,
        "errors": 0,
        "dropped_connections": 0,
    }
    fields.update(changes)
    return SampleRecord(**fields)  # type: ignore[arg-type]


def trial_record(number: int, samples: tuple[SampleRecord, ...], **changes: object) -> TrialRecord:
    fields: dict[str, object] = {
        "study": "echo-1k",
        "number": number,
        "status": "ok",
        "settings": SETTINGS,
        "values": (1000.0,),
        "gain": 1.0,
        "reason": "",
        "stderr_tail": "",
        "wall_s": 1.25,
        "started_at": T0 + timedelta(seconds=number),
        "finished_at": T0 + timedelta(seconds=number, milliseconds=1250),
        "samples": samples,
    }
    fields.update(changes)
    return TrialRecord(**fields)  # type: ignore[arg-type]


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    """The result of `sql` on the file, read with the stdlib driver, not through storage."""
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(sql).fetchall()


def digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns
