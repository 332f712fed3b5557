"""A real headless Chromium for tests that load a local HTML file (not a test module).

`Browser.start()` runs Debian's `chromium` headless in its own process group and a new
temporary directory (profile, config, cache), and speaks the Chrome DevTools Protocol
(CDP) with it over two pipes (`--remote-debugging-pipe`: the browser reads JSON messages
on its file descriptor 3 and writes them on 4, each ended by a NUL byte); no port is
opened and no package beyond the standard library is needed. On leaving the `with` block
every process of the browser is killed with SIGKILL and the directory is removed.

`browser.load(path)` opens the file in a new tab of its own and returns a `Page` that
recorded, from before the navigation on: the console's messages, uncaught exceptions,
the browser's own error log and every request for anything but the file itself (or a
`data:` URL). `page.evaluate(...)` runs JavaScript in it, `page.dom()` is the HTML as
rendered, `page.screenshot(...)` writes a PNG; `load(path, javascript=False)` reads the
page as a reader with JavaScript off would.

Every CDP call waits at most `Browser.call_timeout_s` and then raises `CdpTimeout`
naming the method; a call the browser refuses raises `CdpError`; a browser that exits
raises `BrowserGone` with the tail of its stderr. All three are `BrowserError`s.

Nothing leaves the machine: the flags (`FLAGS`) turn off the browser's own background
traffic (updates, metrics, sync, safe browsing) and its host resolver maps every name
but 127.0.0.1 to "not found", so a page that asks for an outside URL has the request
recorded in `Page.requests` and failing at once.

`missing()` says, in one line, what is absent (the binary), or None: the `chromium`
fixture skips with it, or fails when `CI` is set.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

# Debian's browser itself, then PATH's launchers. /usr/bin/chromium is Debian's shell
# launcher: it sources /etc/chromium.d (Google API keys, remote extensions on, a
# --load-extension), which a test browser wants none of, so the binary comes first.
CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser")
INSTALL_HINT = "install Chromium (Debian: apt-get install chromium)"
# Bound on the browser's start, up to its first CDP answer (s); about 1 s here.
START_TIMEOUT_S = 60.0
# Bound on any one CDP call (s), including a page's load and a full-page screenshot.
CALL_TIMEOUT_S = 30.0
# Time after the page's load event during which its scripts may still draw (s).
SETTLE_S = 0.5
# Bound on waiting for the killed browser's processes to be gone (s).
KILL_WAIT_S = 10.0
# Characters of the browser's stderr (D-Bus lines left out) quoted in an error.
STDERR_TAIL_CHARS = 2000

FLAGS = (
    "--headless=new",
    # As root the browser's sandbox cannot start (it refuses to run at all without this).
    "--no-sandbox",
    "--disable-gpu",
    "--remote-debugging-pipe",
    "--no-first-run",
    "--no-default-browser-check",
    # Its own traffic: component and field-trial downloads, metrics uploads, sync,
    # safe browsing's lists, pings, domain reliability reports, crash reports.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--metrics-recording-only",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--no-pings",
    "--disable-field-trial-config",
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
    # Every host name but the loopback address fails to resolve: a page's outside
    # request is recorded (requestWillBeSent comes first) but never leaves. Traced with
    # strace, the browser's only other Internet call is a connect() of a UDP socket to
    # 2001:4860:4860::8888, its IPv6 route check, which sends no packet.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    # Docker's /dev/shm is 64 MB, too small for a renderer's shared memory: use /tmp.
    "--disable-dev-shm-usage",
    "--mute-audio",
    # Screenshots the same from one machine to another: no scrollbars, sRGB colours.
    "--hide-scrollbars",
    "--force-color-profile=srgb",
    # The tab opened at start, before any CDP command, stays empty.
    "about:blank",
)
# The states in /proc/PID/stat of a process that has exited (zombie, dead).
_DEAD_STATES = frozenset({"Z", "X"})
# Starts the browser and exits at once, printing its PID: the browser is then no
# descendant of the test session, whose e2e tests each check that they leave no child
# process behind (the browser starts its GPU, network and renderer processes lazily and
# outlives each test), and it runs in a process group of its own (setpgroup) that
# `_kill` ends. If the session dies without ending it, the browser still goes:
# it exits when the pipe it reads CDP from is closed. argv: the pipe ends that become
# its file descriptors 3 and 4, the stderr file's descriptor, then its command line.
LAUNCHER = """
import os, sys
to_browser, from_browser, log = (int(fd) for fd in sys.argv[1:4])
command = sys.argv[4:]
devnull = os.open(os.devnull, os.O_RDONLY)
pid = os.posix_spawn(command[0], command, os.environ, setpgroup=0, file_actions=[
    (os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, log, 1),
    (os.POSIX_SPAWN_DUP2, log, 2), (os.POSIX_SPAWN_DUP2, to_browser, 3),
    (os.POSIX_SPAWN_DUP2, from_browser, 4), (os.POSIX_SPAWN_CLOSE, to_browser),
    (os.POSIX_SPAWN_CLOSE, from_browser), (os.POSIX_SPAWN_CLOSE, log)])
print(pid)
"""
# Console API types that `Page.errors` reports.
_ERROR_CONSOLE_TYPES = frozenset({"error", "assert"})


class BrowserError(RuntimeError):
    """Chromium did not do what a test asked of it."""


class CdpTimeout(BrowserError):
    """The browser did not answer a CDP call (or an awaited event) in time."""


class CdpError(BrowserError):
    """The browser answered a CDP call with an error."""


class BrowserGone(BrowserError):
    """The browser exited (or closed its pipe) while a test still needed it."""


class EvaluationError(BrowserError):
    """A JavaScript expression given to `Page.evaluate` threw."""


@dataclass(frozen=True, slots=True)
class ConsoleMessage:
    """One call of the page's console API: `kind` is its type (log, warning, error,
    info, debug, assert, ...), `text` its arguments joined by spaces."""

    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class Screenshot:
    """A PNG written by `Page.screenshot`: its path and size in CSS pixels (device
    scale factor 1, so also in image pixels)."""

    path: Path
    width_px: int
    height_px: int


def binary() -> Path | None:
    """The Chromium executable: Debian's `/usr/lib/chromium/chromium`, else PATH's
    `chromium` or `chromium-browser`; None when none is found."""
    for candidate in CANDIDATES:
        found = shutil.which(candidate)
        if found is not None:
            return Path(found)
    return None


def missing() -> str | None:
    """What is missing for a headless Chromium, in one line naming what to install;
    None when nothing is."""
    if binary() is None:
        return f"no Chromium binary was found ({', '.join(CANDIDATES)}): {INSTALL_HINT}"
    return None


@dataclass
class _Recorder:
    """What one page's session has reported so far (filled by the connection)."""

    own_url: str
    console: list[ConsoleMessage] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    loader_id: str | None = None
    loaded: bool = False

    def record(self, method: str, params: dict[str, object]) -> None:
        if method == "Runtime.consoleAPICalled":
            args = params.get("args")
            texts = [_remote_text(arg) for arg in args] if isinstance(args, list) else []
            self.console.append(ConsoleMessage(str(params.get("type")), " ".join(texts)))
        elif method == "Runtime.exceptionThrown":
            self.exceptions.append(_exception_text(_dict(params.get("exceptionDetails"))))
        elif method == "Log.entryAdded":
            entry = _dict(params.get("entry"))
            if entry.get("level") == "error":
                url = f" ({entry['url']})" if entry.get("url") else ""
                self.log_errors.append(f"{entry.get('source')}: {entry.get('text')}{url}")
        elif method == "Network.requestWillBeSent":
            url = str(_dict(params.get("request")).get("url"))
            if url != self.own_url and not url.startswith("data:"):
                self.requests.append(url)
        elif (
            method == "Page.lifecycleEvent"
            and params.get("name") == "load"
            and params.get("loaderId") == self.loader_id
        ):
            self.loaded = True


class _Connection:
    """CDP over the two pipes: numbered calls, their answers, events to recorders."""

    def __init__(self, to_browser: int, from_browser: int, describe_exit: Callable[[], str]):
        self._to = to_browser
        self._from = from_browser
        self._buffer = bytearray()
        self._next_id = 0
        self._answers: dict[int, dict[str, object]] = {}
        self.recorders: dict[str, _Recorder] = {}
        # Bound on each call without a `timeout_s` of its own (s).
        self.timeout_s = CALL_TIMEOUT_S
        # Whether the browser still runs and its stderr's tail, for an error's message.
        self._describe_exit = describe_exit

    def call(
        self,
        method: str,
        params: dict[str, object] | None = None,
        session: str | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, object]:
        """Send one CDP command; its `result`. Raises `CdpError` for an error answer,
        `CdpTimeout` after `timeout_s` (default `self.timeout_s`) without one,
        `BrowserGone` if the pipe closes."""
        if timeout_s is None:
            timeout_s = self.timeout_s
        self._next_id += 1
        number = self._next_id
        message: dict[str, object] = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._send(json.dumps(message).encode() + b"\0", method)
        deadline = time.monotonic() + timeout_s
        while number not in self._answers:
            if not self._read(deadline, method):
                raise CdpTimeout(f"chromium did not answer {method} within {timeout_s:g} s")
        answer = self._answers.pop(number)
        if "error" in answer:
            error = _dict(answer["error"])
            raise CdpError(f"chromium refused {method}: {error.get('message')} {error}")
        return _dict(answer.get("result"))

    def wait_until(self, done: Callable[[], bool], what: str, timeout_s: float) -> None:
        """Read messages until `done()` is true; `CdpTimeout` naming `what` after
        `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not done():
            if not self._read(deadline, what):
                raise CdpTimeout(f"chromium did not report {what} within {timeout_s:g} s")

    def pump(self, duration_s: float) -> None:
        """Take in every message that arrives within `duration_s` (0: those already sent)."""
        deadline = time.monotonic() + duration_s
        while self._read(deadline, "its events"):
            pass

    def _send(self, data: bytes, method: str) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._to, view)
            except BrokenPipeError as exc:
                raise BrowserGone(f"chromium is gone ({method}): {self._describe_exit()}") from exc
            view = view[written:]

    def _read(self, deadline: float, waiting_for: str) -> bool:
        """Handle one message (waiting until `deadline`, monotonic s); False at the deadline."""
        while (end := self._buffer.find(b"\0")) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select([self._from], [], [], remaining)
            if not ready:
                return False
            chunk = os.read(self._from, 1 << 20)
            if not chunk:
                why = self._describe_exit()
                raise BrowserGone(f"chromium is gone ({waiting_for}): {why}")
            self._buffer += chunk
        message = json.loads(bytes(self._buffer[:end]))
        del self._buffer[: end + 1]
        if "id" in message:
            self._answers[int(message["id"])] = message
        elif (recorder := self.recorders.get(str(message.get("sessionId")))) is not None:
            recorder.record(str(message.get("method")), _dict(message.get("params")))
        return True


class Page:
    """One local HTML file open in its own tab; what it did since before it loaded.

    `console`, `errors` and `requests` first take in every message the browser has
    already sent, so they include what an `evaluate` just caused.
    """

    def __init__(self, connection: _Connection, target: str, session: str, path: Path):
        self._connection = connection
        self._target = target
        self._session = session
        self.path = path
        self._recorder = connection.recorders[session]

    @property
    def url(self) -> str:
        """The page's own `file://` URL."""
        return self._recorder.own_url

    @property
    def console(self) -> tuple[ConsoleMessage, ...]:
        """Every console API call the page made, in order."""
        self._connection.pump(0.0)
        return tuple(self._recorder.console)

    @property
    def errors(self) -> tuple[str, ...]:
        """One line per console error (`console.error: ...`), uncaught exception
        (`uncaught: ...`) and error in the browser's log (`log: ...`, e.g. a failed
        load); empty for a page that ran cleanly."""
        self._connection.pump(0.0)
        recorder = self._recorder
        return (
            *(
                f"console.{m.kind}: {m.text}"
                for m in recorder.console
                if m.kind in _ERROR_CONSOLE_TYPES
            ),
            *(f"uncaught: {text}" for text in recorder.exceptions),
            *(f"log: {text}" for text in recorder.log_errors),
        )

    @property
    def requests(self) -> tuple[str, ...]:
        """The URL of every request for anything but the page's own file or a `data:`
        URL, in order (repeats kept); empty for a self-contained page."""
        self._connection.pump(0.0)
        return tuple(self._recorder.requests)

    def evaluate(self, expression: str, timeout_s: float | None = None) -> object:
        """The JSON value of a JavaScript expression in the page (a promise is awaited;
        `undefined` is None). Raises `EvaluationError` with the exception's text when the
        expression throws, `CdpError` when the value cannot be sent as JSON, `CdpTimeout`
        after `timeout_s` (default: the browser's `call_timeout_s`)."""
        result = self._call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout_s,
        )
        if "exceptionDetails" in result:
            details = _exception_text(_dict(result["exceptionDetails"]))
            raise EvaluationError(f"{expression!r} threw in {self.url}: {details}")
        return _dict(result.get("result")).get("value")

    def dom(self) -> str:
        """The document as rendered (`document.documentElement.outerHTML`), scripts'
        changes included; read through the DOM domain, so also with JavaScript off."""
        root = _dict(self._call("DOM.getDocument", {"depth": 0}).get("root"))
        html = self._call("DOM.getOuterHTML", {"nodeId": root.get("nodeId")})
        return str(html.get("outerHTML"))

    def screenshot(
        self, path: Path, full_page: bool = True, selector: str | None = None
    ) -> Screenshot:
        """Write a PNG of the page to `path`: the whole document when `full_page`
        (however far it scrolls), else the viewport, or with `selector` only the first
        element it matches, at one image pixel per CSS pixel. Raises `CdpTimeout` if the
        browser takes longer than its `call_timeout_s` to paint it, `EvaluationError`
        when `selector` matches nothing."""
        if selector is not None:
            box = self.evaluate(
                f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                ".getBoundingClientRect(); return [r.left + scrollX, r.top + scrollY,"
                " r.width, r.height]; })()"
            )
            x, y, width, height = (int(_number(v)) for v in _list(box))
            shot = self._call(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {"x": x, "y": y, "width": width, "height": height, "scale": 1},
                },
            )
            path.write_bytes(base64.b64decode(str(shot.get("data"))))
            return Screenshot(path, width, height)
        metrics = self._call("Page.getLayoutMetrics")
        if full_page:
            size = _dict(metrics.get("cssContentSize"))
        else:
            size = _dict(metrics.get("cssLayoutViewport"))
            size = {"width": size.get("clientWidth"), "height": size.get("clientHeight")}
        width, height = int(_number(size.get("width"))), int(_number(size.get("height")))
        shot = self._call(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": full_page,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
        path.write_bytes(base64.b64decode(str(shot.get("data"))))
        return Screenshot(path, width, height)

    def close(self) -> None:
        """Close the tab (once; again does nothing); the page answers nothing after
        this, and its record is no longer updated."""
        if self._connection.recorders.pop(self._session, None) is not None:
            self._connection.call("Target.closeTarget", {"targetId": self._target})

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(
        self,
        method: str,
        params: dict[str, object] | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, object]:
        return self._connection.call(method, params, self._session, timeout_s)


class Browser:
    """A running headless Chromium and its CDP pipes (see the module's docstring)."""

    def __init__(self, pid: int, directory: Path, connection: _Connection):
        # The browser's main process, which leads its process group (pgid == pid).
        self.pid = pid
        # Its temporary directory: profile/, config/, cache/ and its stderr.
        self.directory = directory
        self._connection = connection

    @property
    def call_timeout_s(self) -> float:
        """Bound on each CDP call and on a page's load event (s), `CALL_TIMEOUT_S` unless
        set."""
        return self._connection.timeout_s

    @call_timeout_s.setter
    def call_timeout_s(self, seconds: float) -> None:
        self._connection.timeout_s = seconds

    @classmethod
    @contextmanager
    def start(cls, timeout_s: float = START_TIMEOUT_S) -> Iterator[Browser]:
        """Start Chromium (see `FLAGS`) in a new process group and a new temporary
        directory (its profile, config and cache); yields it once it answers CDP. On
        exit, SIGKILL to every one of its processes (`pids()`), then wait until none is
        left alive (at most `KILL_WAIT_S`) and remove the directory.

        Raises `BrowserError` when no binary is found (`missing()`), `BrowserGone` when
        it exits while starting, `CdpTimeout` when it does not answer in `timeout_s`.
        """
        executable = binary()
        if executable is None:
            raise BrowserError(missing())
        directory = Path(tempfile.mkdtemp(prefix="twistune-chromium-"))
        stderr_path = directory / "stderr"
        # Pipe one: we write, the browser reads on its 3; pipe two: it writes on 4, we read.
        its_in, our_out = os.pipe()
        our_in, its_out = os.pipe()
        try:
            pid = _launch(executable, directory, its_in, its_out, timeout_s)
        except BaseException:
            os.close(our_in)
            os.close(our_out)
            shutil.rmtree(directory, ignore_errors=True)
            raise
        finally:
            os.close(its_in)
            os.close(its_out)

        connection = _Connection(
            our_out, our_in, lambda: _exit_description(pid, directory, stderr_path)
        )
        try:
            connection.call("Browser.getVersion", timeout_s=timeout_s)
            yield cls(pid, directory, connection)
        finally:
            try:
                _kill(pid, directory)
            finally:
                os.close(our_in)
                os.close(our_out)
                shutil.rmtree(directory, ignore_errors=True)

    def pids(self) -> list[int]:
        """The PIDs (from /proc) of every live process of the browser: those of its
        process group (its own, its zygotes', renderers' and utilities') and its crash
        handlers, which run in sessions of their own but name its directory."""
        return _browser_pids(self.pid, self.directory)

    def load(
        self,
        path: Path,
        width: int = 1200,
        height: int = 900,
        settle_s: float = SETTLE_S,
        javascript: bool = True,
    ) -> Page:
        """Open the local file `path` in a new tab of `width` x `height` CSS pixels,
        recording its console, exceptions, error log and requests from before the
        navigation; returns once its load event has fired and `settle_s` more seconds
        have passed. With `javascript=False` the page's scripts do not run (`evaluate`
        and `dom` still work). Close the page (`with browser.load(...) as page:`) to end
        its renderer.

        Raises `FileNotFoundError` for a path that is no file, `CdpError` when the
        navigation fails, `CdpTimeout` when the load event does not come within
        `call_timeout_s`.
        """
        path = path.resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no file to load at {path}")
        connection = self._connection
        target = str(connection.call("Target.createTarget", {"url": "about:blank"})["targetId"])
        attached = connection.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        session = str(attached["sessionId"])
        recorder = _Recorder(own_url=path.as_uri())
        connection.recorders[session] = recorder
        page = Page(connection, target, session, path)
        try:
            # Every domain that reports is on before the navigation, so nothing is missed.
            for domain in ("Page", "Runtime", "Log", "Network"):
                page._call(f"{domain}.enable")
            # The load event of this navigation (its loaderId), not about:blank's.
            page._call("Page.setLifecycleEventsEnabled", {"enabled": True})
            metrics: dict[str, object] = {
                "width": width,
                "height": height,
                "deviceScaleFactor": 1,
                "mobile": False,
            }
            page._call("Emulation.setDeviceMetricsOverride", metrics)
            if not javascript:
                page._call("Emulation.setScriptExecutionDisabled", {"value": True})
            navigated = page._call("Page.navigate", {"url": recorder.own_url})
            if "errorText" in navigated:
                raise CdpError(
                    f"chromium could not open {recorder.own_url}: {navigated['errorText']}"
                )
            recorder.loader_id = str(navigated.get("loaderId"))
            connection.wait_until(
                lambda: recorder.loaded,
                f"the load event of {recorder.own_url}",
                connection.timeout_s,
            )
            connection.pump(settle_s)
        except BaseException:
            # The first error is the one to see; a browser gone since cannot close a tab.
            with suppress(BrowserError):
                page.close()
            raise
        return page


def _launch(executable: Path, directory: Path, its_in: int, its_out: int, timeout_s: float) -> int:
    """Start the browser through `LAUNCHER` (see there for why), everything it writes
    in `directory`; its PID, which is also its process group's. Raises `BrowserError`
    with the launcher's stderr when it fails, `subprocess.TimeoutExpired` after
    `timeout_s`."""
    # Above 9, so that the launcher's dup2s onto 3 and 4 cannot overwrite one another.
    high_in = fcntl.fcntl(its_in, fcntl.F_DUPFD_CLOEXEC, 10)
    high_out = fcntl.fcntl(its_out, fcntl.F_DUPFD_CLOEXEC, 10)
    command = [str(executable), f"--user-data-dir={directory / 'profile'}", *FLAGS]
    # Headless Chromium keeps its crash reports under $XDG_CONFIG_HOME/chromium and a
    # scoped cache directory (left behind when it is killed) under $XDG_CACHE_HOME,
    # whatever --user-data-dir says: both go into the directory that is removed.
    environment = {
        **os.environ,
        "XDG_CONFIG_HOME": str(directory / "config"),
        "XDG_CACHE_HOME": str(directory / "cache"),
    }
    log = os.open(directory / "stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        launched = subprocess.run(
            [sys.executable, "-I", "-c", LAUNCHER, *map(str, (high_in, high_out, log)), *command],
            pass_fds=(high_in, high_out, log),
            env=environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    finally:
        for fd in (high_in, high_out, log):
            os.close(fd)
    if launched.returncode != 0 or not launched.stdout.strip().isdigit():
        raise BrowserError(f"chromium could not be started: {launched.stderr.strip()}")
    return int(launched.stdout)


def _kill(group: int, directory: Path) -> None:
    """SIGKILL to every process of the browser (`_browser_pids`), then wait until /proc
    lists none of them alive. A zombie counts as gone: it has exited and waits only for
    init, its parent since the launcher exited, to reap it (which init here does about
    1.5 s later). Raises `BrowserError` naming any still alive after `KILL_WAIT_S`."""
    with suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT_S
    while alive := _browser_pids(group, directory):
        if time.monotonic() > deadline:
            raise BrowserError(
                f"chromium's processes {alive} outlived SIGKILL by {KILL_WAIT_S:g} s"
            )
        # The crash handlers, in sessions of their own, leave by themselves once the
        # browser is gone; one that lingers is killed too.
        for pid in alive:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def _browser_pids(group: int, directory: Path) -> list[int]:
    """Every PID in /proc of a live process (not a zombie) in process group `group` or
    whose command line names `directory`."""
    named = os.fsencode(directory) + b"/"
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
            state, _, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
            if state in _DEAD_STATES:
                continue
            if int(pgrp) == group or named in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return sorted(pids)


def _exit_description(pid: int, directory: Path, stderr_path: Path) -> str:
    """Whether the browser still runs, and the tail of its stderr without the lines on
    D-Bus (there is no bus in a container or CI, and it says so many times)."""
    state = "still running" if pid in _browser_pids(pid, directory) else "exited"
    try:
        lines = stderr_path.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    tail = "\n".join(line for line in lines if ":ERROR:dbus/" not in line)[-STDERR_TAIL_CHARS:]
    return f"{state}; its stderr ends: {tail.strip() or '(nothing)'}"


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise BrowserError(f"chromium sent {value!r} where a list belongs")
    return value


def _number(value: object) -> float:
    if not isinstance(value, int | float):
        raise BrowserError(f"chromium sent {value!r} where a number belongs")
    return float(value)


def _remote_text(value: object) -> str:
    """A console argument (a CDP RemoteObject) as text: its value, else its description."""
    remote = _dict(value)
    if "value" in remote:
        shown = remote["value"]
        return shown if isinstance(shown, str) else json.dumps(shown)
    return str(remote.get("description", remote.get("type")))


def _exception_text(details: dict[str, object]) -> str:
    """An exception's text on one line: the first line of the thrown value's description
    (`Error: message`; the stack follows in the rest), else the details' own text, then
    where it was thrown (URL:line:column, counted from 1)."""
    thrown = _dict(details.get("exception"))
    text = str(thrown.get("description") or details.get("text")).split("\n", 1)[0]
    line, column = details.get("lineNumber"), details.get("columnNumber")
    if isinstance(line, int) and isinstance(column, int):
        return f"{text} at {details.get('url') or '?'}:{line + 1}:{column + 1}"
    return text
