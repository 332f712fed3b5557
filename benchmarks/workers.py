"""Does the coordination of a shared study scale? N workers on one PostgreSQL study.

What `twistune worker` adds to a trial, and nothing else: N worker processes
each run `tuner._study.run_trials` on one PostgreSQL study, which this script
creates and sets up once (`prepare_study`, no ceiling), with a stand-in in
place of the measurement (`StandIn`: it sleeps 0.5 s and returns a made-up
paired result of the study's pairs, stored like a real one). So every figure
is the coordination's: claiming each trial against the study's budget,
leasing it while it runs, the sweep for trials of gone processes before each
trial, asking Optuna, storing and telling. The sampler is Optuna's random
sampler, whose cost does not grow with the trials (TPE's does), so that the
figures are not the sampler's.

Each worker is a host of its own: its process answers `socket.gethostname()`
with its own name (e.g. `box-w3`), since one machine cannot give 32 processes
32 UTS namespaces without root. So no worker can tell whether another is
alive, and a killed worker's trial is settled only once its lease expires,
as on separate hosts. The study's budget is large enough not to stop them;
each worker's own time limit (`TuneConfig.timeout_s`) is the window, counted
from the instant every worker had opened the study (a barrier: each writes
a file, then waits for the go).

Per N (1, 4, 16, 32; `--duration-s` each, default 60), with the default
leases: trials per minute (each worker's trials over its own wall time,
summed), that against N x the single worker's (target: at least 0.9 at 32),
the database and loop time per trial in ms (a worker's wall time outside the
stand-in, over its trials: the opening of the study counts too), a
worker's own CPU time per trial (the result's bootstrap interval, Optuna,
SQLAlchemy: on one machine N workers share its CPUs with the server, as N
hosts would not, so N x this against the machine's CPUs says when a row
measures the machine rather than the coordination), the slowest worker's
start (from the go to its first trial), and the
duplicates, counted from the database after the run (must be 0): Optuna
trial numbers stored twice, twistune trials stored twice, ledger rows
(`twistune_leases`) with the same trial number, and enqueued candidates
(Optuna's `fixed_params`) measured more than once. Lost leases (a live
worker's trial settled by another) and trials left RUNNING must be 0 too.

Then, for each N of 2 or more, the same with a quarter of the workers (at
least one) killed with SIGKILL at half the window, with short leases (renew
0.5 s, grace 2 s; the window is stretched to at least the kill + grace +
2 s): the survivors' trials per minute, and per killed worker how long after
its kill its trial was settled, and whether its candidate was measured again.
The ledger does not record when a lease was settled: the time is the settled
trial's `finished_at` (the settler's clock, this machine's) minus the kill.

PostgreSQL: `--storage URL` (a `postgresql+psycopg://` URL; its
`max_connections` must allow about 8 connections a worker), else a private
server in a temporary directory (Debian's `postgresql` binaries, started as
the `postgres` user when run as root; max_connections set for the largest
N; fsync left on, as on a real server). Every worker is bounded in time and
killed by its PID if it outlasts the bound; the private server is stopped.

Run it alone: it uses both CPUs (32 processes start at once).

    python benchmarks/workers.py                   # 1, 4, 16, 32 workers: estimated 8 minutes
    python benchmarks/workers.py --smoke           # 1 and 2 workers, 2 s each: seconds
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuner import TuneConfig

# The stand-in trial: what a measurement takes, on its own host.
TRIAL_S = 0.5
WORKERS = (1, 4, 16, 32)
DURATION_S = 60.0
# Leases while workers are killed: short, so that a killed trial is settled within seconds.
KILL_RENEW_S = 0.5
KILL_GRACE_S = 2.0
# A study budget no window reaches: the workers stop on their own time limit.
BUDGET_TRIALS = 1_000_000
# Bounds: a worker's start (imports, storage) and its end past the window, and each
# pg_ctl/initdb step (seconds).
START_BOUND_S = 120.0
END_BOUND_S = 60.0
COMMAND_BOUND_S = 60.0
# Connections a worker may hold on the private server (its pool and Optuna's), plus spare.
CONNECTIONS_PER_WORKER = 8
TARGET_RATIO = 0.9
SMOKE_WORKERS = (1, 2)
SMOKE_DURATION_S = 2.0


# -- the stand-in trial


class StandIn:
    """A `PairedRunner` that sleeps `TRIAL_S` in place of a measurement and returns a
    made-up paired result of the pairs asked for (candidate 2% above the defaults, pair
    after pair). `spent_s` is the time spent inside it; `first_at` when it was first
    called (`time.monotonic()`)."""

    def __init__(self) -> None:
        from harness import CpuLayout, current_environment

        self.environment = current_environment()
        self.layout = CpuLayout(0, 1)
        self.spent_s = 0.0
        self.first_at: float | None = None

    def __call__(
        self,
        candidate: Any,
        workload: Any,
        *,
        pairs: int,
        ramp_s: float | None = None,
        window_s: float | None = None,
        warmup_s: float = 0.2,
        timeout_s: float | None = None,
        server_cpu: int | None = None,
        client_cpu: int | None = None,
        process_sets: int = 1,
        reference: bool = False,
        on_pair: Callable[[int, Any, Any], bool] | None = None,
    ) -> Any:
        from harness import PairedResult, Settings, TrialStatus, workload_spec

        began = time.perf_counter()
        if self.first_at is None:
            self.first_at = time.monotonic()
        time.sleep(TRIAL_S)
        defaults, mine = [], []
        stopped = False
        for k in range(pairs):
            defaults.append(_sample(1000.0 + k))
            mine.append(_sample(1020.0 + k))
            if on_pair is not None and not on_pair(k + 1, defaults[-1], mine[-1]):
                stopped = True
                break
        result = PairedResult(
            status=TrialStatus.OK,
            defaults_settings=Settings(),
            candidate_settings=candidate,
            workload=workload_spec(workload),
            defaults_samples=tuple(defaults),
            candidate_samples=tuple(mine),
            ratios=tuple(
                c.throughput_msgs_s / d.throughput_msgs_s
                for d, c in zip(defaults, mine, strict=True)
            ),
            ramp_s=0.0,
            window_s=TRIAL_S / max(2 * pairs, 1),
            environment=self.environment,
            cpu_layout=self.layout,
            wall_s=TRIAL_S,
            set_pairs=(len(mine),),
            reference=reference,
            stopped=stopped,
        )
        self.spent_s += time.perf_counter() - began
        return result


def _sample(throughput: float) -> Any:
    from harness import RepeatSample

    window_s = 0.01
    return RepeatSample(
        window_s=window_s,
        messages=int(throughput * window_s),
        bytes_received=int(throughput * window_s) * 1024,
        throughput_msgs_s=throughput,
        throughput_mb_s=throughput * 1024e-6,
        latency_p50_ms=0.5,
        latency_p90_ms=0.8,
        latency_p99_ms=1.2,
        latency_p999_ms=5.0,
        latency_histogram="",
        server_cpu_s=window_s,
        server_rss_peak_bytes=30 * 2**20,
        client_cpu_share=0.5,
        errors=0,
        dropped_connections=0,
    )


def study_config(
    study: str, duration_s: float, renew_s: float | None, grace_s: float | None
) -> TuneConfig:
    """The study every worker runs: echo's built-in space, the random sampler, no ceiling,
    no transfer from the phases before, no stability gate (the stand-in's pairs are
    alike: one attempt a trial); its own time limit `duration_s`."""
    from harness import EchoWorkload
    from tuner import TuneConfig, build_space
    from tuner._lease_keeper import LeaseTimes

    leases = LeaseTimes() if renew_s is None or grace_s is None else LeaseTimes(renew_s, grace_s)
    return TuneConfig(
        study=study,
        workload=EchoWorkload(),
        space=build_space("echo"),
        sampler="random",
        trials=None,
        timeout_s=duration_s,
        ceiling=False,
        transfer=False,
        stability_gate=None,
        leases=leases,
    )


# -- one worker process (`--worker SPEC`)


def worker_main(spec_text: str) -> int:
    """Run trials as one host until the window ends; write what it did as JSON. Exits 3
    when the go does not come within `START_BOUND_S`."""
    spec = json.loads(spec_text)
    host = str(spec["host"])
    socket.gethostname = lambda: host  # this worker is a host of its own (docstring)
    from storage import open_storage
    from tuner._optuna import open_optuna_study
    from tuner._study import run_trials

    stand_in = StandIn()
    config = study_config(spec["study"], spec["duration_s"], spec["renew_s"], spec["grace_s"])
    storage = open_storage(spec["url"], create=False)
    if storage.study(spec["study"]) is None:
        print(f"study {spec['study']!r} not found", file=sys.stderr)
        return 3
    # Opened once before the go, so that the window holds no import or first connection;
    # run_trials opens it again (its own Optuna storage), inside the window.
    open_optuna_study(storage, spec["study"]).get_trials(deepcopy=False)
    Path(spec["ready"]).write_text(str(os.getpid()))
    go_file = Path(spec["go"])
    waited = time.monotonic() + START_BOUND_S
    while not go_file.exists():
        if time.monotonic() > waited:
            print("no go within the bound", file=sys.stderr)
            return 3
        time.sleep(0.005)
    go = float(go_file.read_text())
    cpu_before = _cpu_s()
    summary = run_trials(config, storage, stand_in, started=go)
    wall_s = time.monotonic() - go
    cpu_s = _cpu_s() - cpu_before
    storage.close()
    out = {
        "trials": summary.trials_run,
        "wall_s": wall_s,
        "stand_in_s": stand_in.spent_s,
        "cpu_s": cpu_s,
        "start_s": (stand_in.first_at - go) if stand_in.first_at is not None else None,
        "lost": summary.lost_leases,
        "swept": summary.interrupted_swept,
        "stop": summary.stop_reason,
    }
    Path(spec["out"]).write_text(json.dumps(out))
    return 0


def _cpu_s() -> float:
    """This process's CPU time so far, every thread's, user and system (seconds)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- a private PostgreSQL server


def _binaries() -> Path | None:
    """The directory of `initdb` and `pg_ctl`: Debian's newest, else PATH's."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda d: tuple(int(p) for p in d.parent.name.split(".") if p.isdigit()),
    )
    for bin_dir in reversed(versions):
        if (bin_dir / "initdb").is_file() and (bin_dir / "pg_ctl").is_file():
            return bin_dir
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


def missing_server() -> str | None:
    """Why no private server can start here, in one line; None when one can."""
    if _binaries() is None:
        return "PostgreSQL's initdb and pg_ctl were not found (Debian: apt-get install postgresql)"
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "run as root, PostgreSQL needs a 'postgres' user (apt-get install postgresql)"
        if shutil.which("runuser") is None:
            return "run as root, starting PostgreSQL needs runuser (util-linux)"
    return None


@contextmanager
def private_server(max_connections: int) -> Iterator[str]:
    """A PostgreSQL server in a temporary directory on a free port of 127.0.0.1, for the
    block; yields the URL of its `postgres` database. Stopped (`-m immediate`) and
    removed after. RuntimeError with the step's output when a step fails."""
    bin_dir = _binaries()
    assert bin_dir is not None
    directory = Path(tempfile.mkdtemp(prefix="twistune-workers-pg-"))
    data = directory / "data"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])

    def run(program: str, *args: str) -> None:
        command = [str(bin_dir / program), *args]
        if os.geteuid() == 0:  # initdb and postgres refuse root
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=COMMAND_BOUND_S, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} exited {done.returncode}: {done.stderr.strip()}")

    if os.geteuid() == 0:
        import pwd

        entry = pwd.getpwnam("postgres")
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    started = False
    try:
        run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = (
            f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 "
            f"-c max_connections={max_connections}"
        )
        log = str(directory / "server.log")
        run("pg_ctl", "-D", str(data), "-l", log, "-o", options, "-w", "-t", "30", "start")
        started = True
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            with suppress(RuntimeError, subprocess.TimeoutExpired):
                run("pg_ctl", "-D", str(data), "-w", "-t", "30", "stop", "-m", "immediate")
        shutil.rmtree(directory, ignore_errors=True)


# -- one phase: N workers on a new study


@dataclass(frozen=True, slots=True)
class Killed:
    """A worker killed mid-run: its index, pid, host name and when (time.time())."""

    index: int
    pid: int
    host: str
    at: float


@dataclass(slots=True)
class Phase:
    """What N workers did on one study."""

    study: str
    workers: int
    window_s: float
    outputs: list[dict[str, Any]] = field(default_factory=list)
    killed: list[Killed] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def trials(self) -> int:
        return sum(int(o["trials"]) for o in self.outputs)

    @property
    def per_minute(self) -> float:
        return sum(60.0 * float(o["trials"]) / float(o["wall_s"]) for o in self.outputs)

    @property
    def loop_ms(self) -> float:
        """Wall time outside the stand-in per trial, over every reporting worker (ms)."""
        outside = sum(float(o["wall_s"]) - float(o["stand_in_s"]) for o in self.outputs)
        return 1000.0 * outside / max(self.trials, 1)

    @property
    def cpu_ms(self) -> float:
        """The workers' own CPU time per trial (ms): on one machine, N workers share its
        CPUs, as N hosts would not."""
        return 1000.0 * sum(float(o["cpu_s"]) for o in self.outputs) / max(self.trials, 1)

    @property
    def start_ms(self) -> float:
        starts = [float(o["start_s"]) for o in self.outputs if o["start_s"] is not None]
        return 1000.0 * max(starts, default=0.0)

    @property
    def lost(self) -> int:
        return sum(int(o["lost"]) for o in self.outputs)


def run_phase(
    url: str,
    study: str,
    workers: int,
    window_s: float,
    *,
    kill: int = 0,
    renew_s: float | None = None,
    grace_s: float | None = None,
) -> Phase:
    """Set `study` up, run `workers` workers on it for `window_s` seconds, killing `kill`
    of them at half the window; what they reported (killed workers report nothing)."""
    from storage import open_storage
    from tuner._prepare import prepare_study

    config = study_config(study, window_s, renew_s, grace_s)
    with open_storage(url) as storage:
        prepare_study(config, storage, StandIn())
        storage.set_budget(study, more_trials=BUDGET_TRIALS)
    phase = Phase(study, workers, window_s)
    base = socket.gethostname()
    with tempfile.TemporaryDirectory(prefix="twistune-workers-") as scratch:
        folder = Path(scratch)
        go_file = folder / "go"
        processes: list[subprocess.Popen[bytes]] = []
        try:
            for index in range(workers):
                spec = {
                    "url": url,
                    "study": study,
                    "host": f"{base}-w{index}",
                    "duration_s": window_s,
                    "renew_s": renew_s,
                    "grace_s": grace_s,
                    "ready": str(folder / f"ready-{index}"),
                    "go": str(go_file),
                    "out": str(folder / f"out-{index}.json"),
                }
                with open(folder / f"err-{index}.txt", "wb") as err:
                    processes.append(
                        subprocess.Popen(
                            [
                                sys.executable,
                                os.path.abspath(__file__),
                                "--worker",
                                json.dumps(spec),
                            ],
                            stdin=subprocess.DEVNULL,
                            stdout=err,
                            stderr=err,
                        )
                    )
            _wait_ready(folder, processes)
            staged = folder / "go.tmp"
            go = time.monotonic()
            staged.write_text(repr(go))
            staged.rename(go_file)  # at once: no worker reads half a number
            if kill:
                time.sleep(max(go + window_s / 2 - time.monotonic(), 0.0))
                for index in range(workers - kill, workers):
                    process = processes[index]
                    at = time.time()
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait(timeout=COMMAND_BOUND_S)
                    phase.killed.append(Killed(index, process.pid, f"{base}-w{index}", at))
            for index, process in enumerate(processes):
                if process.returncode is not None and process.returncode < 0:
                    continue  # killed above
                left = go + window_s + END_BOUND_S - time.monotonic()
                try:
                    code = process.wait(timeout=max(left, 0.1))
                except subprocess.TimeoutExpired:
                    phase.failures.append(f"worker {index} outlasted the window by {END_BOUND_S} s")
                    continue
                if code != 0:
                    tail = (folder / f"err-{index}.txt").read_text(errors="replace")[-1500:]
                    phase.failures.append(f"worker {index} exited {code}: {tail.strip()}")
                    continue
                phase.outputs.append(json.loads((folder / f"out-{index}.json").read_text()))
        finally:
            for process in processes:
                if process.poll() is None:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait(timeout=COMMAND_BOUND_S)
    return phase


def _wait_ready(folder: Path, processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """Until every worker has opened the storage (its ready file), bounded; RuntimeError
    naming a worker that ended first, or the bound."""
    bound = time.monotonic() + START_BOUND_S
    pending = set(range(len(processes)))
    while pending:
        for index in sorted(pending):
            if (folder / f"ready-{index}").exists():
                pending.discard(index)
            elif processes[index].poll() is not None:
                tail = (folder / f"err-{index}.txt").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"worker {index} exited before the go: {tail.strip()}")
        if time.monotonic() > bound:
            raise RuntimeError(f"{len(pending)} workers not ready after {START_BOUND_S:g} s")
        time.sleep(0.02)


# -- what the database holds after a phase


@dataclass(frozen=True, slots=True)
class Duplicates:
    """Rows stored twice (each must be 0): Optuna trial numbers, twistune trials (kind,
    number), ledger rows on one trial number, enqueued candidates measured more than
    once (but by a re-measurement of intensification, which is one on purpose).
    `running`: Optuna trials left RUNNING; `live`: leases left live."""

    optuna: int
    twistune: int
    ledger: int
    enqueued: int
    running: int
    live: int

    @property
    def total(self) -> int:
        return self.optuna + self.twistune + self.ledger + self.enqueued


def settled_reasons(url: str, study: str) -> list[str]:
    """The reasons stored on the study's settled leases, each with its owner and trial."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT owner, number, settled_reason FROM twistune_leases WHERE state = "
                    "'settled' AND study_id = (SELECT id FROM twistune_studies WHERE name = "
                    ":study) ORDER BY id"
                ),
                {"study": study},
            ).all()
    finally:
        engine.dispose()
    return [f"{owner} trial {number}: {reason}" for owner, number, reason in rows]


def count_duplicates(url: str, study: str) -> Duplicates:
    """Counted from the tables, past storage and Optuna's API."""
    from sqlalchemy import create_engine, text

    def count(sql: str) -> int:
        return int(connection.execute(text(sql), {"study": study}).scalar_one())

    twistune_study = "(SELECT id FROM twistune_studies WHERE name = :study)"
    optuna_study = "(SELECT study_id FROM studies WHERE study_name = :study)"
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return Duplicates(
                optuna=count(
                    f"SELECT count(*) FROM (SELECT number FROM trials WHERE study_id = "
                    f"{optuna_study} GROUP BY number HAVING count(*) > 1) AS d"
                ),
                twistune=count(
                    f"SELECT count(*) FROM (SELECT kind, number FROM twistune_trials WHERE "
                    f"study_id = {twistune_study} GROUP BY kind, number HAVING count(*) > 1) AS d"
                ),
                ledger=count(
                    f"SELECT count(*) FROM (SELECT number FROM twistune_leases WHERE study_id = "
                    f"{twistune_study} AND number IS NOT NULL GROUP BY number "
                    f"HAVING count(*) > 1) AS d"
                ),
                enqueued=count(
                    "SELECT count(*) FROM (SELECT a.value_json FROM trials t "
                    "JOIN trial_system_attributes a ON a.trial_id = t.trial_id "
                    "AND a.key = 'fixed_params' "
                    "JOIN twistune_trials r ON r.number = t.number AND r.kind = 'search' "
                    f"AND r.study_id = {twistune_study} "
                    f"WHERE t.study_id = {optuna_study} AND r.status <> 'interrupted' "
                    "AND r.remeasure_of IS NULL "  # intensification measures again on purpose
                    "GROUP BY a.value_json HAVING count(*) > 1) AS d"
                ),
                running=count(
                    f"SELECT count(*) FROM trials WHERE study_id = {optuna_study} "
                    "AND state = 'RUNNING'"
                ),
                live=count(
                    f"SELECT count(*) FROM twistune_leases WHERE study_id = {twistune_study} "
                    "AND state = 'live'"
                ),
            )
    finally:
        engine.dispose()


def settled_lines(url: str, phase: Phase) -> tuple[list[str], int]:
    """A line per killed worker: its trial, when it was settled and how, and whether its
    candidate was measured again; and how many killed trials were left unsettled."""
    from optuna.trial import TrialState

    from storage import LeaseState, TrialOutcome, open_storage
    from tuner._optuna import OWNER_ATTR, open_optuna_study
    from tuner._settle import RETRY_ATTR

    lines, unsettled = [], 0
    with open_storage(url, create=False) as storage:
        leases = storage.leases(phase.study)
        records = {r.number: r for r in storage.trials(phase.study)}
        optuna_trials = open_optuna_study(storage, phase.study).get_trials(deepcopy=False)
        retries = {t.user_attrs[RETRY_ATTR]: t for t in optuna_trials if RETRY_ATTR in t.user_attrs}
        for victim in phase.killed:
            mine = [lease for lease in leases if lease.owner == f"{victim.host}:{victim.pid}"]
            open_ = [lease for lease in mine if lease.state is not LeaseState.ENDED]
            head = f"    worker {victim.index} (pid {victim.pid}, host {victim.host}): killed "
            if not open_:
                lines.append(f"{head}between trials (its leases all ended): nothing to settle")
                continue
            lease = open_[-1]
            if lease.state is LeaseState.LIVE:
                unsettled += 1
                lines.append(f"{head}in trial #{lease.number}: NOT SETTLED (lease still live)")
                continue
            if lease.number is None:
                # Killed between claiming and attaching: Optuna may have given it a trial.
                orphans = [
                    t.number
                    for t in optuna_trials
                    if t.state is TrialState.RUNNING
                    and t.user_attrs.get(OWNER_ATTR, {}).get("host") == victim.host
                    and t.user_attrs.get(OWNER_ATTR, {}).get("pid") == victim.pid
                ]
                if orphans:
                    unsettled += len(orphans)
                    lines.append(
                        f"{head}after asking for trial #{orphans[0]}, before its lease was "
                        f"given the number: lease settled, trial NOT SETTLED (left RUNNING)"
                    )
                else:
                    lines.append(
                        f"{head}after claiming a trial, before it was numbered: lease "
                        f"settled after it expired, no trial to store"
                    )
                continue
            record = records.get(lease.number)
            if record is None:
                unsettled += 1
                lines.append(f"{head}in trial #{lease.number}: lease settled, NO TRIAL STORED")
                continue
            if record.status is not TrialOutcome.INTERRUPTED:
                lines.append(
                    f"{head}after storing trial #{lease.number} ({record.status.value}), before "
                    f"letting its lease go: lease settled, the stored result kept"
                )
                continue
            after_s = record.finished_at.timestamp() - victim.at
            how = "lease expired" if lease.reason.startswith("lease expired") else "owner dead"
            retry = retries.get(lease.number)
            again = (
                f"measured again as #{retry.number} ({retry.state.name.lower()})"
                if retry is not None
                else "not enqueued again"
            )
            lines.append(
                f"{head}in trial #{lease.number}; settled {after_s:.2f} s later ({how}), {again}"
            )
    return lines, unsettled


# -- the report


def print_phase(phase: Phase, single: float | None, url: str) -> bool:
    """Print a phase's row (and its killed workers); False when something failed."""
    dup = count_duplicates(url, phase.study)
    ok = not phase.failures
    if phase.killed:
        print(
            f"  {phase.workers:>7}  {len(phase.killed):>6}  {phase.window_s:>6.1f}  "
            f"{phase.trials:>6}  {phase.per_minute:>10.1f}  {phase.loop_ms:>8.1f}  "
            f"{phase.cpu_ms:>6.1f}  {dup.total:>10}  {phase.lost:>4}  {dup.running:>7}"
        )
        lines, unsettled = settled_lines(url, phase)
        for line in lines:
            print(line)
        if unsettled:
            ok = False
            print(f"FAILED: {unsettled} killed trials of {phase.study} left unsettled")
    else:
        ratio = phase.per_minute / (phase.workers * single) if single else 1.0
        print(
            f"  {phase.workers:>7}  {phase.window_s:>6.1f}  {phase.trials:>6}  "
            f"{phase.per_minute:>10.1f}  {ratio:>9.2f}  {phase.loop_ms:>8.1f}  "
            f"{phase.cpu_ms:>6.1f}  {phase.start_ms:>8.0f}  {dup.total:>10}  {phase.lost:>4}  "
            f"{dup.running:>7}"
        )
        if dup.running or dup.live:
            ok = False
            print(
                f"FAILED: {phase.study}: {dup.running} Optuna trials left RUNNING, "
                f"{dup.live} leases left live, though every worker ended"
            )
    if dup.total:
        ok = False
        print(
            f"FAILED: {phase.study}: duplicates: Optuna numbers {dup.optuna}, twistune trials "
            f"{dup.twistune}, ledger numbers {dup.ledger}, enqueued measured twice {dup.enqueued}"
        )
    if phase.lost:
        ok = False
        print(f"FAILED: {phase.study}: {phase.lost} trials of live workers settled by another")
        for reason in settled_reasons(url, phase.study):
            print(f"    settled: {reason}")
    for failure in phase.failures:
        print(f"FAILED: {phase.study}: {failure}")
    return ok


def benchmark(url: str, workers: Sequence[int], duration_s: float, where: str) -> int:
    from tuner._lease_keeper import DEFAULT_GRACE_S, DEFAULT_RENEW_S

    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    print(
        f"{where}; sampler: random (Optuna's RandomSampler, whose cost does not grow with "
        f"the trials: the figures are the coordination's, not the sampler's)"
    )
    print(
        f"stand-in trial: {TRIAL_S:g} s asleep, then a made-up result of 16 pairs stored; "
        f"each worker a host of its own; window {duration_s:g} s per row; "
        f"{os.cpu_count()} CPUs shared by every worker and the server"
    )
    print()
    print(
        f"leases renew {DEFAULT_RENEW_S:g} s, grace {DEFAULT_GRACE_S:g} s (the defaults); "
        f"target: trials/min >= {TARGET_RATIO:g} x N x one worker's at 32 (printed, not judged)"
    )
    print(
        "  workers  window  trials  trials/min  / N x one  ms/trial  cpu ms  start ms  duplicates  "
        "lost  running"
    )
    ok = True
    single: float | None = None
    for n in workers:
        phase = run_phase(url, f"workers-{stamp}-n{n}", n, duration_s)
        if n == 1:
            single = phase.per_minute
        ok = print_phase(phase, single, url) and ok
    killing = [n for n in workers if n >= 2]
    if killing:
        print()
        print(
            f"a quarter of the workers (at least 1) killed with SIGKILL at half the window; "
            f"leases renew {KILL_RENEW_S:g} s, grace {KILL_GRACE_S:g} s"
        )
        print(
            "  workers  killed  window  trials  trials/min  ms/trial  cpu ms  duplicates  "
            "lost  running"
        )
        window_s = max(duration_s, duration_s / 2 + KILL_GRACE_S + 2.0)
        for n in killing:
            phase = run_phase(
                url,
                f"workers-{stamp}-n{n}-kill",
                n,
                window_s,
                kill=max(1, n // 4),
                renew_s=KILL_RENEW_S,
                grace_s=KILL_GRACE_S,
            )
            ok = print_phase(phase, None, url) and ok
    print()
    print(
        "trials/min: each surviving worker's trials over its own wall time, summed; "
        "ms/trial: a worker's wall time outside the stand-in, over its trials (database, "
        "Optuna, the loop; the study's opening included); cpu ms: a worker's own CPU time "
        "per trial (on one machine the N workers share its CPUs, N hosts would not); "
        "start ms: the slowest worker's go to first trial; duplicates: Optuna numbers + "
        "twistune trials + ledger numbers "
        "+ enqueued candidates measured twice; lost: live workers' trials settled by "
        "another; running: Optuna trials left RUNNING"
    )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", help="a postgresql+psycopg:// URL (default: a private server)")
    parser.add_argument("--workers", default=",".join(str(n) for n in WORKERS))
    parser.add_argument("--duration-s", type=float, default=DURATION_S)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"end to end in seconds, to check it runs: {SMOKE_WORKERS} workers, "
        f"{SMOKE_DURATION_S:g} s each",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # one worker process's spec
    args = parser.parse_args(argv)
    if args.worker is not None:
        return worker_main(args.worker)
    workers: Sequence[int] = tuple(int(n) for n in args.workers.split(","))
    duration_s: float = args.duration_s
    if args.smoke:
        workers, duration_s = SMOKE_WORKERS, SMOKE_DURATION_S
    try:
        import psycopg  # noqa: F401
    except ImportError:
        print(
            "workers.py: PostgreSQL needs psycopg: pip install 'twistune[postgres]'",
            file=sys.stderr,
        )
        return 2
    from harness import host_lock

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # finally blocks still run
    with host_lock():  # the whole benchmark: no other measurement beside its workers
        if args.storage:
            from storage import StorageError, open_storage

            try:
                open_storage(args.storage).close()  # reachable, writable: else one line
            except StorageError as exc:
                print(f"workers.py: {exc}", file=sys.stderr)
                return 2
            return benchmark(args.storage, workers, duration_s, f"PostgreSQL at {args.storage}")
        why = missing_server()
        if why is not None:
            print(
                f"workers.py: no PostgreSQL server: {why}; or give --storage URL", file=sys.stderr
            )
            return 2
        connections = CONNECTIONS_PER_WORKER * max(workers) + 20
        with private_server(connections) as url:
            where = f"PostgreSQL: a private server (max_connections {connections})"
            return benchmark(url, workers, duration_s, where)


if __name__ == "__main__":
    sys.exit(main())
