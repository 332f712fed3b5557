"""How long must a trial's lease last? What a renewal costs, how late a live process
renews during real trials, and how long a database restart cuts it off.

The defaults of `twistune tune` and `worker` (`--lease-renew-s 10`,
`--lease-grace-s 60`, `tuner._lease_keeper`) rest on three figures, each
measured here on this machine with a private PostgreSQL server:

1. a renewal's cost: `Storage.renew_lease` timed N times in a row, on a
   SQLite file and on PostgreSQL (ms, median and worst);
2. how late a live process renews: a real `twistune tune` (real paired
   trials, the default windows) runs with renewals every `RENEW_S`, while
   this script reads the ledger's `renewed_at` (the database's clock) every
   50 ms; the gaps between one renewal and the next, against the interval,
   say how much of the grace a healthy process uses;
3. a database restart: the server stopped and started again (`pg_ctl stop
   -m fast`, `start -w`), timed: the time a process is cut off.

A grace must outlast the longest gap of 2 and the restart of 3 with room.

    python benchmarks/leases.py           # about a minute
    python benchmarks/leases.py --smoke   # each part for seconds, to check that it runs
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script (`python benchmarks/leases.py`), its folder is on sys.path, not the
# repository's: the private PostgreSQL server is workers.py's, imported as a package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.workers import _binaries, missing_server, private_server

RENEW_S = 1.0  # the tune's renewal interval in part 2
TRIALS = 4  # real trials in part 2
RENEWALS = 200  # timed renewals per database in part 1


def renewal_ms(url: str, count: int) -> list[float]:
    """`count` renewals of one lease on a study in the database at `url`, in ms each."""
    from storage import Lease, StudyRecord, open_storage

    with open_storage(url) as store:
        store.ensure_study(
            StudyRecord("leases", {"name": "echo", "params": {}}, ("throughput",), 1, {})
        )
        lease = store.claim_trial("leases", owner="bench:1", host="bench", grace_s=60)
        assert isinstance(lease, Lease)
        times = []
        for _ in range(count):
            began = time.perf_counter()
            store.renew_lease(lease, 60)
            times.append((time.perf_counter() - began) * 1000)
        return times


def renewal_gaps(url: str, trials: int, extra: list[str]) -> tuple[list[float], float]:
    """Run a real tune on `url` renewing every `RENEW_S`; the gaps (s, database clock)
    between successive renewals of each lease, and the tune's wall time."""
    from storage import StorageError, open_storage

    command = [sys.executable, "-m", "tuner", "tune", "--storage", url, "--study", "gaps",
               "--trials", str(trials), "--strategies", "none", "--no-ceiling", "--no-transfer",
               "--confirm-top", "0", "--no-progress", "--lease-renew-s", f"{RENEW_S:g}",
               "--lease-grace-s", f"{10 * RENEW_S:g}", *extra]  # fmt: skip
    seen: dict[int, list[float]] = {}
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as cwd:
        tuner = subprocess.Popen(
            command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        try:
            with open_storage(url) as store:
                while tuner.poll() is None and time.monotonic() - began < 600:
                    try:
                        for lease in store.leases("gaps", live=True):
                            stamps = seen.setdefault(lease.id, [])
                            stamp = lease.renewed_at.timestamp()
                            if not stamps or stamps[-1] != stamp:
                                stamps.append(stamp)
                    except StorageError:
                        pass  # the study is not there yet
                    time.sleep(0.05)
        finally:
            tuner.kill()
            _, err = tuner.communicate(timeout=30)
    if tuner.returncode not in (0, -9):
        raise RuntimeError(f"tune exited {tuner.returncode}: {err.strip()[-400:]}")
    gaps = [b - a for stamps in seen.values() for a, b in itertools.pairwise(stamps)]
    return gaps, time.monotonic() - began


def restart_s(url: str) -> float:
    """Seconds to stop the server at `url` and have it accept connections again."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as db:
        data = db.execute("SHOW data_directory").fetchone()
    assert data is not None
    bin_dir = _binaries()
    assert bin_dir is not None
    folder = Path(str(data[0])).parent
    pg_ctl = ["runuser", "-u", "postgres", "--", str(bin_dir / "pg_ctl"), "-D", str(data[0])]
    began = time.monotonic()
    # The server's output to its log: a pipe it inherited would keep this call waiting.
    subprocess.run(
        [*pg_ctl, "-l", str(folder / "server.log"), "-w", "-t", "60", "restart", "-m", "fast"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90,
    )  # fmt: skip
    return time.monotonic() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="each part for seconds")
    args = parser.parse_args(argv)
    why = missing_server()
    if why is not None:
        print(f"leases.py: no PostgreSQL server: {why}", file=sys.stderr)
        return 2
    count, trials = (20, 1) if args.smoke else (RENEWALS, TRIALS)
    extra = ["--pairs", "4", "--window-s", "0.03", "--ramp-s", "0.01"] if args.smoke else []
    with private_server(40) as url, tempfile.TemporaryDirectory() as folder:
        print(f"1. a renewal's cost, {count} in a row (ms)")
        for name, where in (
            ("SQLite file", f"sqlite:///{Path(folder) / 'l.db'}"),
            ("PostgreSQL", url),
        ):
            times = renewal_ms(where, count)
            print(f"   {name:12} median {statistics.median(times):6.2f}  worst {max(times):6.2f}")
        gaps, wall = renewal_gaps(url, trials, extra)
        print(f"2. a real tune of {trials} trials ({wall:.0f} s), renewing every {RENEW_S:g} s:")
        if gaps:
            p95 = sorted(gaps)[int(0.95 * (len(gaps) - 1))]
            longest = max(gaps)
            print(
                f"   {len(gaps)} gaps between renewals (s): median "
                f"{statistics.median(gaps):.2f}, p95 {p95:.2f}, longest {longest:.2f} "
                f"({longest / RENEW_S:.2f} x the interval)"
            )
        else:
            print("   no trial lasted long enough to renew its lease")
        print(f"3. the server stopped and started again: {restart_s(url):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
