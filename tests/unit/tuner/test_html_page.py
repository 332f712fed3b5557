"""The HTML report from stored records: what each section draws, the page's data, and the
`report --format html` command's bad input.

The studies are storage records only (no Optuna study, nothing measured):
the charts' data comes from the stored trials, their defaults' sides and
their samples. tests/e2e/test_tune_cli.py renders a real study's page in
headless Chromium.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from harness import RESULT_FORMAT_VERSION, EchoWorkload, Reactor, Settings, workload_spec
from storage import Storage, StudyRecord, TrialKind, open_storage
from tests.fakes import sample_record, stored_trial
from tuner._cli import main
from tuner._html import render_html
from tuner._plot_data import TrialMark, html_report
from tuner._space import build_space

SELECT = Settings(reactor=Reactor.SELECT, read_buffer_bytes=131072).knob_values()
NODELAY = Settings(tcp_nodelay=True).knob_values()


class Elements(HTMLParser):
    """Every start tag's name and attributes, and the text of the whole page, in order."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def within(self, element_id: str) -> list[tuple[str, dict[str, str]]]:
        """The tags from the one with `element_id` to the next <section> or <figure> start."""
        start = next(i for i, (_, a) in enumerate(self.tags) if a.get("id") == element_id)
        found = []
        for tag, attrs in self.tags[start + 1 :]:
            if tag in ("section", "figure"):
                break
            found.append((tag, attrs))
        return found


def histogram(*latencies_us: int) -> str:
    recorded = HdrHistogram(1, 3_600_000_000, 3)
    for value in latencies_us:
        recorded.record_value(value)
    return recorded.encode().decode("ascii")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Storage]:
    with open_storage(f"sqlite:///{tmp_path / 't.db'}") as storage:
        storage.ensure_study(
            StudyRecord(
                name="s",
                workload=workload_spec(EchoWorkload()),
                objectives=("throughput",),
                harness_format=RESULT_FORMAT_VERSION,
                environment={"cpu_model": "fake"},
                space=build_space("echo").to_dict(),
            )
        )
        yield storage


def pairs(throughputs: list[float], latency_us: int) -> list[object]:
    return [
        sample_record(
            i + 1,
            t,
            server_cpu_s=0.5,
            window_s=1.0,
            server_rss_peak_bytes=30_000_000 + i,
            latency_histogram=histogram(latency_us, latency_us * 2, latency_us * 3),
        )
        for i, t in enumerate(throughputs)
    ]


def save_study(store: Storage) -> None:
    """Trial 0 the defaults (A/A), 1 select, 2 failed, 3 select measured again, 4 nodelay;
    each completed one with its defaults' side."""
    trials = [
        stored_trial(
            0,
            pairs([1000, 1010], 100),
            baseline=True,
            values=(1.0,),
            gain_low=0.97,
            gain_high=1.03,
        ),
        stored_trial(
            1,
            pairs([1300, 1320], 80),
            settings=SELECT,
            gain=1.3,
            values=(1.3,),
            gain_low=1.2,
            gain_high=1.4,
        ),
        stored_trial(
            2, settings=NODELAY, status="failed", values=(), gain=None, reason="it crashed"
        ),
        stored_trial(
            3,
            pairs([1250, 1260], 80),
            settings=SELECT,
            gain=1.28,
            values=(1.28,),
            gain_low=1.22,
            gain_high=1.34,
            remeasure_of=1,
            process_sets=2,
        ),
        stored_trial(
            4,
            pairs([1100, 1090], 90),
            settings=NODELAY,
            gain=1.1,
            values=(1.1,),
            gain_low=1.05,
            gain_high=1.15,
        ),
    ]
    for trial in trials:
        store.save_trial(trial)
        if trial.samples:
            side = stored_trial(
                trial.number,
                pairs([1000, 1000], 100),
                kind=TrialKind.SEARCH_DEFAULTS,
                values=(),
            )
            store.save_trial(side)


def test_every_trial_is_drawn_in_the_history_with_how_it_came(store: Storage) -> None:
    save_study(store)
    page = html_report(store, "s")
    marks = [p.mark for p in page.plots.history]
    assert marks == [
        TrialMark.DEFAULTS,
        TrialMark.SAMPLED,
        TrialMark.FAILED,
        TrialMark.REMEASURED,
        TrialMark.SAMPLED,
    ]
    assert [p.best_so_far for p in page.plots.history] == [1.0, 1.3, 1.3, 1.3, 1.3]
    assert page.plots.aa_band == (0.97, 1.03)
    # Each completed trial's defaults' side gives the machine's drift.
    assert [p.defaults_throughput for p in page.plots.history] == [1000, 1000, None, 1000, 1000]
    elements = Elements(render_html(page))
    drawn = [
        a["data-trial"]
        for t, a in elements.within("history")
        if t == "circle" and "mark" in a.get("class", "").split()
    ]
    assert sorted(drawn, key=int) == ["0", "1", "2", "3", "4"]


def test_the_page_without_a_confirmation_says_so_and_embeds_the_data(store: Storage) -> None:
    save_study(store)
    page = html_report(store, "s")
    text = render_html(page)
    elements = Elements(text)
    verdict = "".join(elements.text)
    assert "not confirmed yet" in verdict or "no confirmation" in verdict.lower()
    assert page.plots.settings_text == ""  # nothing exported without a confirmed winner
    assert not any(a.get("id") == "settings-file" for _, a in elements.tags)
    script = text.split('<script type="application/json" id="study-data">', 1)[1]
    data = json.loads(script.split("</script>", 1)[0])
    assert len(data["plots"]["history"]) == 5
    assert data["report"]["study"] == "s"
    # Knob slices: the knobs completed trials set to two values or more.
    assert {k.knob for k in page.plots.knobs} == {"reactor", "read_buffer_bytes", "tcp_nodelay"}


def test_the_latency_spectrum_and_pairs_come_from_the_best_trial(store: Storage) -> None:
    save_study(store)
    plots = html_report(store, "s").plots
    assert plots.pairs_trial == 1
    assert [round(p.ratio or 0, 2) for p in plots.pairs] == [1.3, 1.32]
    assert [p.candidate_cpu for p in plots.pairs] == [0.5, 0.5]
    sides = {s.side: s for s in plots.spectra}
    assert set(sides) == {"defaults", "candidate"}
    assert sides["candidate"].count == 6  # 3 latencies in each of 2 slices
    # The median of 80, 160, 240 us twice: 160 us, as HdrHistogram's 3 digits hold it.
    at = dict(zip(sides["candidate"].percentiles, sides["candidate"].latency_ms, strict=True))
    assert at[50.0] == pytest.approx(0.16, rel=0.01)


def test_an_empty_study_gives_a_page_that_says_so(store: Storage) -> None:
    text = render_html(html_report(store, "s"))
    assert "No trial completed" in text
    assert text.startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--format", "html"], "twistune: error: --format html writes a file: give -o FILE"),
        (
            ["--format", "html", "-o", "missing/page.html"],
            "does not exist",
        ),
        (["--json", "--format", "html", "-o", "page.html"], "give --json or --format html"),
    ],
)
def test_report_refuses_bad_output_in_one_line_and_writes_nothing(
    store: Storage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
) -> None:
    save_study(store)
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--storage", store.url, *arguments]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert message in err
    assert not (tmp_path / "page.html").exists()
    assert not (tmp_path / "missing").exists()


def test_report_writes_the_page_whole(store: Storage, tmp_path: Path) -> None:
    save_study(store)
    target = tmp_path / "page.html"
    assert main(["report", "--storage", store.url, "--format", "html", "-o", str(target)]) == 0
    text = target.read_text()
    assert text.endswith("</html>\n")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".page")] == []


def test_tune_refuses_a_page_it_could_not_write_before_measuring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "t.db"
    page = tmp_path / "missing" / "page.html"
    assert main(["tune", "--storage", f"sqlite:///{db}", "--html", str(page)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"twistune: error: --html {page}: directory {page.parent} does not exist"
    )
    assert not db.exists()


def test_open_loop_shows_latency_service_time_and_lateness_per_side(store: Storage) -> None:
    save_study(store)
    late = {
        "service_p50_ms": 0.2,
        "service_p99_ms": 0.9,
        "send_lateness_p50_ms": 0.01,
        "send_lateness_p99_ms": 0.05,
    }
    store.save_trial(
        stored_trial(
            5,
            [sample_record(1, 1400, **late)],
            settings=SELECT,
            gain=1.4,
            values=(1.4,),
            gain_low=1.35,
            gain_high=1.45,
        )
    )
    store.save_trial(
        stored_trial(5, [sample_record(1, 1000, **late)], kind=TrialKind.SEARCH_DEFAULTS, values=())
    )
    page = html_report(store, "s")
    assert page.plots.pairs_trial == 5
    parts = {p.side: p for p in page.plots.latency_parts}
    assert set(parts) == {"defaults", "candidate"}
    assert parts["candidate"].service_p99_ms == 0.9
    assert parts["candidate"].send_lateness_p99_ms == 0.05
    bars = [a for t, a in Elements(render_html(page)).within("open-loop") if t == "rect"]
    assert len([b for b in bars if "bar" in b.get("class", "").split()]) == 6


def test_two_objectives_draw_the_pareto_front(tmp_path: Path) -> None:
    with open_storage(f"sqlite:///{tmp_path / 'p.db'}") as storage:
        storage.ensure_study(
            StudyRecord(
                name="s",
                workload=workload_spec(EchoWorkload()),
                objectives=("throughput", "p99"),
                harness_format=RESULT_FORMAT_VERSION,
                environment={},
                space=build_space("echo").to_dict(),
            )
        )
        for number, values in enumerate([(1.0, 0.5), (1.3, 0.9), (1.1, 0.4), (0.9, 0.8)]):
            storage.save_trial(
                stored_trial(
                    number, [sample_record(1)], values=values, gain=values[0], baseline=number == 0
                )
            )
        page = html_report(storage, "s")
    front = sorted(t.number for t in page.report.pareto_front)
    assert front == [1, 2]
    drawn = [
        a["data-trial"]
        for t, a in Elements(render_html(page)).within("pareto")
        if t == "circle" and "mark" in a.get("class", "").split()
    ]
    assert sorted(drawn) == ["1", "2"]
