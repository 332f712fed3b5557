"""Every sentence and number format the CLI prints, in one place.

Numbers: `number` (figures in their unit), `ratio` ("1.23x"), `share`
("84%"), `percent` (a confidence, "95%"), `knob_value` (a knob's value,
"unset" for None). Sentences: a confirmation's gain and status, the verdict,
the export refusal, the gain notes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from storage import ConfirmationRecord
from tuner._statistics import min_rounds_to_confirm

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
    needed = min_rounds_to_confirm(c.confidence)
    if c.confirmed:
        return "confirmed"
    if c.rounds < needed:
        return (
            f"not confirmed: {c.rounds} usable rounds, {needed} needed "
            f"at {percent(c.confidence)} confidence"
        )
    if c.ci_high is not None and c.ci_high < 1:
        return "not confirmed: worse than the defaults"
    if c.ci_low is not None and c.ci_low <= 1:
        return "not confirmed: the interval includes 1"
    return "not confirmed: these are Twisted's defaults"


def confirmation_line(confirmation: ConfirmationRecord) -> str:
    """e.g. "trial 7: gain 1.42x [1.35, 1.50], 10 paired rounds, confirmed"."""
    c = confirmation
    dropped = f" ({c.dropped_rounds} dropped: a run failed)" if c.dropped_rounds else ""
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
        f"median paired ratio to Twisted's defaults, re-measured in paired runs with fresh "
        f"processes, with its {percent(confidence)} bootstrap interval across them"
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
