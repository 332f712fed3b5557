"""A private PostgreSQL server for the test session (not a test module).

`PostgresServer.start_new()` runs Debian's (or PATH's) `initdb` in a new
temporary directory and starts the server there with `pg_ctl`, on a free port
of 127.0.0.1 and a Unix socket in that directory, trusting every local
connection as the superuser `postgres`. `initdb` and the server refuse to run as
root: as root they run as the `postgres` user (`runuser`), owning the directory.
`new_database(name)` creates a database and returns its
`postgresql+psycopg://postgres@127.0.0.1:PORT/name` URL; `stop()` and `start()`
stop and start the same server again on the same port and data (a database outage
in the middle of a study); `close()` stops it for good and removes the directory.

Every command is bounded in time (`COMMAND_TIMEOUT_S`). A watchdog process (a child
of the test session) stops the server and removes its directory if the session
ends without `close()` (killed), so no server outlives it.

`missing()` says, in one line, what is absent for a server (the binaries, the
`postgres` user as root, psycopg), or None: the fixtures skip with it, or fail
when `CI` is set.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# Where Debian's `postgresql` package puts the binaries, one directory per version.
DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"
# Bound on every initdb, pg_ctl and psql-like step (s); starting takes under a second.
COMMAND_TIMEOUT_S = 60.0
# How long pg_ctl waits for the server to start or stop (s), inside COMMAND_TIMEOUT_S.
PG_CTL_WAIT_S = 30
SUPERUSER = "postgres"
INSTALL_HINT = (
    "install PostgreSQL's server (Debian: apt-get install postgresql) and psycopg "
    "(pip install -e '.[test]')"
)
# The watchdog: polls for its parent (the test session) every second; once the parent
# is gone, stops the server at once and removes its directory. argv: the parent's pid,
# the directory, then the pg_ctl stop command line.
WATCHDOG = """
import os, shutil, subprocess, sys, time
parent, directory, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
while os.getppid() == parent:
    time.sleep(1.0)
if os.path.exists(os.path.join(directory, "data", "postmaster.pid")):
    subprocess.run(stop, timeout=60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
shutil.rmtree(directory, ignore_errors=True)
"""
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def binaries() -> Path | None:
    """The directory holding `initdb` and `pg_ctl`: Debian's newest version, else PATH's."""
    versions = sorted(
        Path("/").glob(DEBIAN_BINARIES.lstrip("/")),
        key=lambda bin_dir: _version_key(bin_dir.parent.name),
    )
    for bin_dir in reversed(versions):
        if (bin_dir / "initdb").is_file() and (bin_dir / "pg_ctl").is_file():
            return bin_dir
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    return None


def missing() -> str | None:
    """What is missing for a private server, in one line naming what to install; None
    when nothing is."""
    if binaries() is None:
        return f"PostgreSQL's initdb and pg_ctl were not found: {INSTALL_HINT}"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root needs runuser (util-linux) to start PostgreSQL as postgres"
        try:
            _postgres_ids()
        except KeyError:
            return f"running as root, PostgreSQL needs a 'postgres' user: {INSTALL_HINT}"
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        return f"psycopg cannot be imported ({exc}): {INSTALL_HINT}"
    return None


@dataclass
class PostgresServer:
    """One running (or stopped) PostgreSQL server in its own temporary directory."""

    bin_dir: Path
    directory: Path
    port: int
    _databases: set[str] = field(default_factory=set)
    _watchdog: subprocess.Popen[bytes] | None = None

    @classmethod
    def start_new(cls) -> PostgresServer:
        """initdb in a new temporary directory, then start the server on a free port.

        Raises `RuntimeError` (with the command's output) when a step fails, and
        `subprocess.TimeoutExpired` when one outlasts `COMMAND_TIMEOUT_S`; the
        directory is removed then.
        """
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError(missing())
        directory = Path(tempfile.mkdtemp(prefix="twistune-pg-"))
        server = cls(bin_dir, directory, _free_port())
        try:
            if os.geteuid() == 0:
                uid, gid = _postgres_ids()
                os.chown(directory, uid, gid)
            server._run(
                "initdb",
                "-D",
                str(server.data),
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                # The cluster is thrown away at the session's end: nothing is synced.
                "--no-sync",
            )
            server._watchdog = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    WATCHDOG,
                    str(os.getpid()),
                    str(directory),
                    *server._command("pg_ctl", "-D", str(server.data), "stop", "-m", "immediate"),
                ],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            server.start()
        except BaseException:
            server.close()
            raise
        return server

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def start(self) -> None:
        """Start the server (again) on its port; returns once it accepts connections."""
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            # The cluster is thrown away and the machine does not crash under it: no
            # fsync makes CREATE DATABASE and commits fast. A commit still reaches the
            # WAL (in the OS's cache) before it returns, so `stop()`, a crash of the
            # server alone, loses nothing committed (synchronous_commit stays on).
            "-c fsync=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            str(PG_CTL_WAIT_S),
            "start",
        )

    def stop(self) -> None:
        """Stop the server at once (`-m immediate`: connections are cut as by a crash)."""
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-w",
            "-t",
            str(PG_CTL_WAIT_S),
            "stop",
            "-m",
            "immediate",
        )

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of `database` on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self, name: str) -> str:
        """CREATE DATABASE `name` (lower-case letters, digits, `_`; new on this server);
        returns its URL."""
        if not _NAME.fullmatch(name) or name in self._databases:
            raise ValueError(f"{name!r} is not a new database name for this server")
        self.execute("postgres", f'CREATE DATABASE "{name}"')
        self._databases.add(name)
        return self.url(name)

    def execute(self, database: str, sql: str) -> list[tuple[object, ...]]:
        """Run `sql` in `database` on its own autocommit connection (not through storage);
        the rows it returns, [] for a statement without any."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            dbname=database,
            autocommit=True,
            connect_timeout=10,
        ) as connection:
            cursor = connection.execute(sql.encode())
            return cursor.fetchall() if cursor.description is not None else []

    def close(self) -> None:
        """Stop the server if it runs, end the watchdog, remove the directory."""
        try:
            if self.running:
                self.stop()
        finally:
            if self._watchdog is not None:
                self._watchdog.kill()
                self._watchdog.wait(timeout=COMMAND_TIMEOUT_S)
            shutil.rmtree(self.directory, ignore_errors=True)

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / program), *args]
        if os.geteuid() == 0:
            return ["runuser", "-u", SUPERUSER, "--", *command]
        return command

    def _run(self, program: str, *args: str) -> None:
        command = self._command(program, *args)
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
            cwd=self.directory,
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} exited {done.returncode}: "
                f"{done.stdout}{done.stderr}\nserver log: {log}"
            )


def _postgres_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(SUPERUSER)
    return entry.pw_uid, entry.pw_gid


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))
