"""Every sentence and number format the CLI prints, in one place.

Numbers: `number` (figures in their unit), `ratio` ("1.23x"), `share`
("84%"), `percent` (a confidence, "95%"), `knob_value` (a knob's value,
"unset" for None), `count` ("1 trial", "2 trials"). Sentences: a
confirmation's gain and status, the verdict, the export refusal, the gain
notes, and what `twistune tune` says as it goes (`tuner._terminal.TuneProgress`
prints them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from storage import ConfirmationRecord
from tuner._statistics import MIN_CONFIRM_ROUNDS

NOT_CONFIRMED_YET = "not confirmed yet: run `twistune confirm`"
GAIN_NOTE = (
    "one paired run against the defaults inside the study, not yet confirmed over fresh processes"
)
CONFIRMED_GAIN_NOTE = (
    "one paired run against the defaults inside the study; the confirmation below re-measured "
    "it over fresh processes"
)


# -- numbers


def number(value: float | None) -> str:
    """A figure in its unit: "-" when missing, 3 decimals below 100, else 1 ("12,345.6")."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"


def ratio(value: float | None) -> str:
    """A ratio to the defaults: "1.23x", "-" when missing."""
    return "-" if value is None else f"{value:.2f}x"


def share(value: float | None) -> str:
    """A fraction as a whole percentage: "84%", "-" when missing."""
    return "-" if value is None else f"{value:.0%}"


def percent(confidence: float) -> str:
    """A confidence: 0.95 -> "95%", 0.999 -> "99.9%"."""
    return f"{confidence * 100:.10g}%"


def knob_value(value: object) -> str:
    """A knob's value as a flag would take it: "unset" for None, enums by value."""
    if value is None:
        return "unset"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(getattr(value, "value", value))


def count(n: int, noun: str) -> str:
    """ "1 trial", "2 trials": `n` and `noun`, with an s unless `n` is 1."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# -- confirmation sentences


def gain_text(confirmation: ConfirmationRecord) -> str:
    """e.g. "gain 1.42x [1.35, 1.50], 10 paired rounds"."""
    c = confirmation
    if c.gain is None:
        return "no usable round"
    plural = "round" if c.rounds == 1 else "rounds"
    interval = (
        f"[{c.ci_low:.2f}, {c.ci_high:.2f}]"
        if c.ci_low is not None and c.ci_high is not None
        else "[no interval from one round]"
    )
    return f"gain {c.gain:.2f}x {interval}, {c.rounds} paired {plural}"


def status_text(confirmation: ConfirmationRecord) -> str:
    """ "confirmed", or "not confirmed: " and why."""
    c = confirmation
    if c.confirmed:
        return "confirmed"
    if c.rounds < MIN_CONFIRM_ROUNDS:
        return f"not confirmed: {c.rounds} usable rounds, {MIN_CONFIRM_ROUNDS} needed"
    if c.ci_high is not None and c.ci_high < 1:
        return "not confirmed: worse than the defaults"
    if c.ci_low is not None and c.ci_low <= 1:
        return "not confirmed: the interval includes 1"
    return "not confirmed: these are Twisted's defaults"


def confirmation_line(confirmation: ConfirmationRecord) -> str:
    """e.g. "trial 7: gain 1.42x [1.35, 1.50], 10 paired rounds, confirmed"."""
    c = confirmation
    dropped = (
        f" ({c.dropped_rounds} dropped: a run failed or the machine ran slow)"
        if c.dropped_rounds
        else ""
    )
    return f"trial {c.candidate}: {gain_text(c)}, {status_text(c)}{dropped}"


def verdict(confirmations: Sequence[ConfirmationRecord], winner: ConfirmationRecord | None) -> str:
    """The winner line, the defaults sentence, or `NOT_CONFIRMED_YET`."""
    if not confirmations:
        return NOT_CONFIRMED_YET
    if winner is not None:
        return (
            f"winner: trial {winner.candidate}, {gain_text(winner)} "
            f"({percent(winner.confidence)} confidence)"
        )
    confidence = max(c.confidence for c in confirmations)
    return (
        f"no candidate beat the defaults with {percent(confidence)} confidence: "
        "the defaults are as good as anything found"
    )


def export_gain_text(confirmation: ConfirmationRecord) -> str:
    """The exported file's `gain`: "1.42x [1.35, 1.50], 10 paired rounds" (", not confirmed")."""
    text = gain_text(confirmation).removeprefix("gain ")
    return text if confirmation.confirmed else text + ", not confirmed"


def confirmed_gain_note(confidence: float) -> str:
    return (
        f"geometric mean paired ratio to Twisted's defaults, re-measured in paired runs with "
        f"fresh processes, with the interval a re-measurement (the median of 3 fresh paired "
        f"runs) falls in {percent(confidence)} of the time"
    )


def refusal(
    trial: int,
    confirmation: ConfirmationRecord | None,
    verdict_text: str,
    *,
    asked: bool,
) -> str:
    """Why trial `trial` is not exported without --unconfirmed, in one line.

    `asked`: the trial was named with --trial (else it is the in-study best,
    exported for lack of a confirmed winner, and `verdict_text` says why).
    """
    anyway = f"--unconfirmed exports trial {trial} anyway"
    if not asked:
        if verdict_text == NOT_CONFIRMED_YET:
            return f"the best trial's gain is {NOT_CONFIRMED_YET}; {anyway}"
        return f"{verdict_text}; {anyway}"
    if confirmation is not None:
        return (
            f"trial {trial} was not confirmed ({gain_text(confirmation)}, "
            f"{status_text(confirmation)}); {anyway}"
        )
    return f"trial {trial} has no confirmation (run `twistune confirm --trial {trial}`); {anyway}"


# -- tune's progress sentences (stderr)


def swept_text(swept: int) -> str:
    """e.g. "marked 2 interrupted trials from an earlier run as failed"."""
    return f"marked {count(swept, 'interrupted trial')} from an earlier run as failed"


def tuning_text(
    study: str,
    storage: str,
    *,
    trials: int | None,
    timeout_s: float | None,
    until_converged: bool,
    pairing: str,
    scenarios: int,
    sampler: str,
) -> str:
    """What a tune runs, before its first trial: e.g. "tuning study 'x' in sqlite:///t.db:
    20 trials; each against a live defaults server, 16 pairs of slices (...); sampler
    tpe-fast". `pairing`: `Pairing.describe()`; `timeout_s` in seconds."""
    budget = (
        ("until converged, at most " if until_converged else "")
        + (count(trials, "trial") if trials else "no trial limit")
        + (f", {timeout_s:g} s budget" if timeout_s else "")
    )
    each = f", the {scenarios} scenarios in turn" if scenarios > 1 else ""
    return (
        f"tuning study {study!r} in {storage}: {budget}; each against a live defaults "
        f"server, {pairing}{each}; sampler {sampler}"
    )


def prune_note(pairs: int, needed: int) -> str:
    """Why --prune stops nothing with `pairs` pairs per trial when it needs `needed`."""
    return f"note: --prune needs at least {needed} pairs per trial; with {pairs} it stops no trial"


def probed_text(replies: int, window_s: float) -> str:
    """The probe of a user's own server went well: its replies in its window (seconds)."""
    return (
        f"probed the server with Twisted's defaults: {replies} replies in {window_s:g} s, no errors"
    )


def not_searched_text(knobs: Iterable[str]) -> str:
    """The knobs a user's own server sets itself, left out of the search."""
    return (
        f"not searched: {', '.join(sorted(knobs))} (the server sets TCP_NODELAY on every "
        "connection itself)"
    )


def confirming_text(trials: Sequence[int]) -> str:
    """e.g. "confirming trials 7, 3 against the defaults"."""
    noun = "trial" if len(trials) == 1 else "trials"
    return f"confirming {noun} {', '.join(map(str, trials))} against the defaults"


def searched_text(trials_run: int, wall_s: float, failed: int, pruned: int) -> str:
    """e.g. "ran 20 trials in 55.1 s (1 failed, 0 pruned)"."""
    return f"ran {count(trials_run, 'trial')} in {wall_s:.1f} s ({failed} failed, {pruned} pruned)"


def stopped_text(reason: str) -> str:
    return f"stopped: {reason}"


def strategies_text(names: Sequence[str]) -> str:
    return f"strategies tried first: {', '.join(names)}"


def strategy_skipped_text(name: str, reason: str) -> str:
    return f"strategy {name} skipped: {reason}"


def drew_on_text(study: str, distance: float, trials: Sequence[int]) -> str:
    """An earlier study a new one drew on, and the trials of it enqueued (none: all were
    already there)."""
    taken = ", ".join(f"trial {t}" for t in trials) or "no candidate new here"
    return f"drew on earlier study {study!r} (distance {distance:.2f}): {taken}"


def transfer_skipped_text(study: str, trial: int, reason: str) -> str:
    return f"transferred trial {trial} of {study!r} skipped: {reason}"
