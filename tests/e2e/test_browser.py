"""The test browser itself (tests/browser.py) on small pages written for each test: what
a script draws is counted through `evaluate`, console errors, uncaught exceptions and
outside requests are recorded, JavaScript can be turned off, a screenshot is a PNG of the
right size, a browser that does not answer names the CDP method, and no process of a
browser outlives its `with` block."""

from __future__ import annotations

import os
import signal
import struct
from pathlib import Path

import pytest

from tests.browser import Browser, BrowserGone, CdpTimeout, ConsoleMessage, EvaluationError

pytestmark = pytest.mark.e2e

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def page(tmp_path: Path, body: str, name: str = "page.html") -> Path:
    """An HTML file in `tmp_path` with `body` as its body."""
    path = tmp_path / name
    path.write_text(
        f"<!doctype html>\n<html><head><meta charset=utf-8></head><body>\n{body}\n</body></html>\n"
    )
    return path


def png_size(path: Path) -> tuple[int, int]:
    """Width and height in pixels from a PNG's IHDR chunk, the first after the signature."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, head
    assert head[12:16] == b"IHDR", head
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_a_script_that_draws_seven_circles_shows_seven(chromium: Browser, tmp_path: Path) -> None:
    drawing = page(
        tmp_path,
        """<svg id="plot" width="400" height="100"></svg>
<script>
const svg = document.getElementById("plot");
for (let i = 0; i < 7; i++) {
  const circle = document.createElementNS("http://www.w3.org/2000/svg", "circle");
  circle.setAttribute("cx", 20 + 50 * i);
  circle.setAttribute("cy", 50);
  circle.setAttribute("r", 10);
  svg.appendChild(circle);
}
console.log("drawn", 7);
</script>""",
    )
    with chromium.load(drawing) as drawn:
        assert drawn.evaluate("document.querySelectorAll('#plot circle').length") == 7
        assert drawn.evaluate(
            "[...document.querySelectorAll('circle')].map(c => +c.getAttribute('cx'))"
        ) == [20, 70, 120, 170, 220, 270, 320]
        # A promise is awaited; `undefined` is None.
        assert (
            drawn.evaluate("new Promise(resolve => setTimeout(() => resolve('later'), 50))")
            == "later"
        )
        assert drawn.evaluate("undefined") is None
        assert drawn.console == (ConsoleMessage("log", "drawn 7"),)
        assert drawn.errors == ()
        assert drawn.requests == ()
        assert drawn.dom().count("<circle ") == 7


def test_a_console_error_is_one_of_the_errors(chromium: Browser, tmp_path: Path) -> None:
    scolding = page(
        tmp_path,
        """<script>
console.log("fine");
console.warn("careful");
console.error("x");
</script>""",
    )
    with chromium.load(scolding) as loaded:
        assert loaded.errors == ("console.error: x",)
        assert loaded.console == (
            ConsoleMessage("log", "fine"),
            ConsoleMessage("warning", "careful"),
            ConsoleMessage("error", "x"),
        )


def test_an_uncaught_exception_is_one_of_the_errors(chromium: Browser, tmp_path: Path) -> None:
    throwing = page(
        tmp_path,
        """<p>before</p>
<script>
throw new Error("boom");
</script>
<script>
setTimeout(() => { throw new TypeError("later boom"); }, 10);
</script>""",
    )
    with chromium.load(throwing) as loaded:
        url = throwing.resolve().as_uri()
        # Where each `new` stands: line 5, column 7 of the file, then line 8, column 26.
        assert loaded.errors == (
            f"uncaught: Error: boom at {url}:5:7",
            f"uncaught: TypeError: later boom at {url}:8:26",
        )


def test_an_evaluation_that_throws_raises_with_the_message(
    chromium: Browser, tmp_path: Path
) -> None:
    with chromium.load(page(tmp_path, "<p>quiet</p>")) as loaded:
        with pytest.raises(EvaluationError, match=r"Error: nope"):
            loaded.evaluate("(() => { throw new Error('nope'); })()")
        with pytest.raises(EvaluationError, match=r"ReferenceError: missingName is not defined"):
            loaded.evaluate("missingName + 1")
        # An expression that throws is not an uncaught exception of the page.
        assert loaded.errors == ()


def test_an_outside_request_is_recorded_and_a_self_contained_page_has_none(
    chromium: Browser, tmp_path: Path
) -> None:
    # Port 9 (discard): nothing listens there, and Chromium refuses it as unsafe anyway.
    fetching = page(
        tmp_path,
        """<p>a picture:</p>
<img src="http://127.0.0.1:9/x.png" alt="outside">
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="inline">""",
        "fetching.html",
    )
    with chromium.load(fetching) as loaded:
        assert loaded.requests == ("http://127.0.0.1:9/x.png",)
        # Its failure is in the browser's log, so among the errors too.
        assert [line for line in loaded.errors if "http://127.0.0.1:9/x.png" in line] != []
    clean = page(
        tmp_path,
        """<p>no picture</p>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="inline">
<script>document.body.append("done")</script>""",
        "clean.html",
    )
    with chromium.load(clean) as loaded:
        assert loaded.evaluate("document.body.textContent.includes('done')") is True
        assert loaded.requests == ()
        assert loaded.errors == ()


def test_with_javascript_off_a_script_has_no_effect_but_the_text_is_there(
    chromium: Browser, tmp_path: Path
) -> None:
    verdict = page(
        tmp_path,
        """<h1>Winner: trial 12, gain 1.31</h1>
<div id="chart">chart goes here</div>
<script>
document.getElementById("chart").textContent = "drawn by script";
</script>""",
    )
    with chromium.load(verdict, javascript=False) as off:
        html = off.dom()
        assert "Winner: trial 12, gain 1.31" in html
        assert "chart goes here" in html
        assert "drawn by script" not in html.replace(
            'document.getElementById("chart").textContent = "drawn by script";', ""
        )
        assert off.evaluate("document.getElementById('chart').textContent") == "chart goes here"
    with chromium.load(verdict) as on:
        assert on.evaluate("document.getElementById('chart').textContent") == "drawn by script"


def test_a_screenshot_is_a_png_of_the_page(chromium: Browser, tmp_path: Path) -> None:
    tall = page(
        tmp_path,
        """<style>body { margin: 0 } #block { height: 2000px; background: #36c }</style>
<div id="block"></div>""",
    )
    with chromium.load(tall, width=800, height=600) as loaded:
        full = loaded.screenshot(tmp_path / "full.png")
        assert png_size(tmp_path / "full.png") == (800, 2000) == (full.width_px, full.height_px)
        loaded.screenshot(tmp_path / "viewport.png", full_page=False)
        assert png_size(tmp_path / "viewport.png") == (800, 600)
        # A 2000-pixel blue block compresses well but is more than a blank header.
        assert 1_000 < (tmp_path / "full.png").stat().st_size < 1_000_000


def test_a_missing_file_is_refused_before_the_browser_sees_it(
    chromium: Browser, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError, match=r"no file to load at .*absent\.html"):
        chromium.load(tmp_path / "absent.html")


def test_a_browser_that_does_not_answer_names_the_method(chromium: Browser, tmp_path: Path) -> None:
    with chromium.load(page(tmp_path, "<p>paused</p>")) as loaded:
        # Every process of the browser stopped: nothing answers, nothing dies.
        os.killpg(chromium.pid, signal.SIGSTOP)
        try:
            with pytest.raises(
                CdpTimeout, match=r"^chromium did not answer Runtime\.evaluate within 0\.5 s$"
            ):
                loaded.evaluate("1 + 1", timeout_s=0.5)
        finally:
            os.killpg(chromium.pid, signal.SIGCONT)
        # Continued, it answers again (the late answer to the first call is set aside).
        assert loaded.evaluate("2 + 2") == 4


# The session's browser is not the one killed, but its fixture skips (or fails in CI)
# where Chromium is absent.
@pytest.mark.usefixtures("chromium")
def test_a_browser_that_died_is_named_gone(tmp_path: Path) -> None:
    with Browser.start() as dying, dying.load(page(tmp_path, "<p>soon gone</p>")) as loaded:
        os.killpg(dying.pid, signal.SIGKILL)
        with pytest.raises(
            BrowserGone, match=r"^chromium is gone \(Runtime\.evaluate\): exited; its stderr ends: "
        ):
            loaded.evaluate("1 + 1")
        # Closing the page of a dead browser says so too (the `with` would otherwise).
        with pytest.raises(BrowserGone):
            loaded.close()


def test_no_process_of_the_browser_outlives_its_with_block(
    chromium: Browser, tmp_path: Path
) -> None:
    with Browser.start() as started, started.load(page(tmp_path, "<p>hello</p>")) as loaded:
        assert loaded.evaluate("document.body.textContent.trim()") == "hello"
        group, directory = started.pid, started.directory
        pids = started.pids()
        # The browser, its zygotes, the renderer of the page, its utility processes.
        assert group in pids
        assert len(pids) >= 4, pids
        assert (directory / "profile").is_dir()
    assert [pid for pid in pids if _alive(pid)] == []
    assert _of_the_browser(group, directory) == []
    assert not directory.exists()
    # The session's browser, another process group, still runs.
    assert chromium.pid in chromium.pids()


def _of_the_browser(group: int, directory: Path) -> list[int]:
    """From /proc: each live (not zombie) process in process group `group` or whose command
    line names `directory` (the browser's crash handlers run in sessions of their own)."""
    found = []
    for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        state, _, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        named = os.fsencode(directory) + b"/" in command
        if (int(pgrp) == group or named) and state not in {"Z", "X"}:
            found.append(pid)
    return found


def _alive(pid: int) -> bool:
    """Whether /proc lists `pid` as a process that has not exited (not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] not in {"Z", "X"}
