"""How far a measurement can be trusted: its verdict, the evidence behind it, and the rules the
server applies to an agent's claim (issue 16, design section 4).

``clean``: nothing says the timed phase was disturbed and its spread is small; ``unstable``:
the coefficient of variation of the raw times is above the threshold; ``disturbed``: the
agent's evidence (other processes' CPU time, steal, frequency, GPU clocks and neighbours)
says something else ran. Only the agent can observe the evidence, so its ``disturbed`` is
kept; the spread the server derives itself, so a ``clean`` claim with a high CV is stored as
``unstable``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from latency_db.errors import ValidationError
from latency_db.timing_stats import UNSTABLE_CV, TimingStats


class Verdict(str, Enum):
    CLEAN = "clean"
    UNSTABLE = "unstable"
    DISTURBED = "disturbed"


NO_EVIDENCE = "no interference evidence from the agent"
IMPORTED = "imported"
RECORDED_BEFORE_VERDICTS = "recorded before verdicts"

MAX_EVIDENCE_KEYS = 64
MAX_KEY_LENGTH = 64
MAX_STRING_LENGTH = 256
MAX_LIST_LENGTH = 64
MAX_EVIDENCE_BYTES = 16_384
MAX_REASON_LENGTH = 500
MAX_TRIES = 1000


@dataclass(frozen=True)
class VerdictDetail:
    """A verdict, why (``reason``), the deciding number and its limit, and the timed phases
    run (``tries``; None when not reported)."""

    verdict: Verdict
    reason: str
    figure: float | None = None
    threshold: float | None = None
    tries: int | None = None

    def to_json(self) -> dict[str, Any]:
        """What the measurement's ``verdict_detail`` column holds (the verdict has its own)."""
        return {
            "reason": self.reason,
            "figure": self.figure,
            "threshold": self.threshold,
            "tries": self.tries,
        }


IMPORTED_VERDICT = VerdictDetail(Verdict.CLEAN, IMPORTED)


def parse_verdicts(values: object, field: str = "include") -> frozenset[Verdict]:
    """A set of verdict names as ``Verdict`` members (``clean`` always among them)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, set, frozenset)):
        raise ValidationError(f"{field} must be a list of verdicts")
    found = {Verdict.CLEAN}
    for i, value in enumerate(values):
        try:
            found.add(Verdict(value))
        except ValueError:
            allowed = ", ".join(v.value for v in Verdict)
            raise ValidationError(f"{field}[{i}] must be one of {allowed}, not {value!r}") from None
    return frozenset(found)


def sorted_verdicts(verdicts: frozenset[Verdict]) -> list[str]:
    """Verdict names in the order clean, unstable, disturbed (stable for storage and output)."""
    return [v.value for v in Verdict if v in verdicts]


def _finite_or_none(value: object, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(f"{field} must be a finite number or null, not {value!r}")
    return float(value)


def parse_claim(raw: Mapping[str, Any], field: str = "verdict") -> VerdictDetail:
    """An agent's verdict object, checked field by field (``ValidationError`` names it)."""
    if not isinstance(raw, Mapping):
        raise ValidationError(f"{field} must be a JSON object")
    unknown = sorted(set(raw) - {"verdict", "reason", "figure", "threshold", "tries"})
    if unknown:
        raise ValidationError(f"{field}.{unknown[0]} is not a verdict field")
    try:
        verdict = Verdict(raw.get("verdict"))
    except ValueError:
        allowed = ", ".join(v.value for v in Verdict)
        raise ValidationError(
            f"{field}.verdict must be one of {allowed}, not {raw.get('verdict')!r}"
        ) from None
    reason = raw.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH:
        raise ValidationError(f"{field}.reason must be text of at most {MAX_REASON_LENGTH} chars")
    tries = raw.get("tries")
    if tries is not None and (
        isinstance(tries, bool) or not isinstance(tries, int) or not 0 <= tries <= MAX_TRIES
    ):
        raise ValidationError(f"{field}.tries must be an integer in [0, {MAX_TRIES}]")
    return VerdictDetail(
        verdict,
        reason,
        _finite_or_none(raw.get("figure"), f"{field}.figure"),
        _finite_or_none(raw.get("threshold"), f"{field}.threshold"),
        tries,
    )


def _check_scalar(value: object, field: str) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValidationError(f"{field} must be finite, not {value!r}")
        return
    if isinstance(value, str):
        if len(value) > MAX_STRING_LENGTH:
            raise ValidationError(f"{field} is longer than {MAX_STRING_LENGTH} characters")
        return
    raise ValidationError(f"{field} must be a number, a short string, a bool or a short list")


def check_evidence(evidence: object, field: str = "evidence") -> dict[str, Any]:
    """The agent's evidence, bounded: at most 64 keys of at most 64 characters; values are
    finite numbers, bools, null, short strings or short lists of those; 16 KiB of JSON at
    most. ``ValidationError`` names the offending key."""
    if not isinstance(evidence, Mapping):
        raise ValidationError(f"{field} must be a JSON object")
    if len(evidence) > MAX_EVIDENCE_KEYS:
        raise ValidationError(
            f"{field} has {len(evidence)} keys, at most {MAX_EVIDENCE_KEYS} are allowed"
        )
    for key, value in evidence.items():
        if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH:
            raise ValidationError(f"{field} keys must be 1 to {MAX_KEY_LENGTH} characters")
        where = f"{field}.{key}"
        if isinstance(value, (list, tuple)):
            if len(value) > MAX_LIST_LENGTH:
                raise ValidationError(f"{where} has more than {MAX_LIST_LENGTH} items")
            for i, item in enumerate(value):
                _check_scalar(item, f"{where}[{i}]")
        else:
            _check_scalar(value, where)
    size = len(json.dumps(evidence, allow_nan=False))
    if size > MAX_EVIDENCE_BYTES:
        raise ValidationError(f"{field} is {size} bytes of JSON, at most {MAX_EVIDENCE_BYTES}")
    return dict(evidence)


def settle_verdict(claim: VerdictDetail | None, stats: TimingStats) -> VerdictDetail:
    """The verdict stored for a measurement whose raw times have statistics ``stats``: the
    agent's ``disturbed`` is kept; a CV above the limit with the median not pinned either
    (``TimingStats.median_pinned``) makes it at least ``unstable``; without a claim (an agent
    from before verdicts) it is judged by those figures alone."""
    cv = stats.cv
    spread = stats.median_spread
    unsettled = cv > UNSTABLE_CV and not stats.median_pinned
    ci_note = "" if spread is None else f", the median's 95% CI +-{spread:.2%}"
    if claim is None:
        if unsettled:
            return VerdictDetail(
                Verdict.UNSTABLE,
                f"{NO_EVIDENCE}; CV {cv:.3f} > {UNSTABLE_CV}{ci_note}",
                cv,
                UNSTABLE_CV,
            )
        return VerdictDetail(Verdict.CLEAN, NO_EVIDENCE)
    if claim.verdict is Verdict.CLEAN and unsettled:
        return VerdictDetail(
            Verdict.UNSTABLE,
            f"the CV of the raw times is {cv:.3f} > {UNSTABLE_CV}{ci_note} "
            f"(the agent said clean: {claim.reason or 'no reason given'})",
            cv,
            UNSTABLE_CV,
            claim.tries,
        )
    return claim


def describe(verdict: str, detail: Mapping[str, Any] | None) -> str:
    """One line for people: ``clean`` or ``disturbed: <reason>``."""
    reason = (detail or {}).get("reason")
    return f"{verdict}: {reason}" if reason and verdict != Verdict.CLEAN.value else verdict
