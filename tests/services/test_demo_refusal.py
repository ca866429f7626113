"""When ``hwnas demo`` refuses to fit predictors: too few networks measured clean, unless the
user includes unclean measurements."""

from __future__ import annotations

from typing import Any

from latency_db.predictors.versions import MIN_NETWORKS
from services.cli.demo import fit_refusal


def _networks(clean: int, disturbed: int) -> list[dict[str, Any]]:
    def one(i: int, verdict: str) -> dict[str, Any]:
        reason = "other processes used 0.9 cores" if verdict == "disturbed" else ""
        return {"subject": f"net-{i}", "verdict": verdict, "verdict_reason": reason}

    return [one(i, "clean") for i in range(clean)] + [
        one(clean + i, "disturbed") for i in range(disturbed)
    ]


def test_too_few_clean_networks_are_refused_unless_included() -> None:
    short = _networks(MIN_NETWORKS - 1, 3)
    refusal = fit_refusal(short, 0, include_unclean=False)
    assert refusal is not None and f"only {MIN_NETWORKS - 1} of {MIN_NETWORKS + 2}" in refusal
    assert fit_refusal(short, 0, include_unclean=True) is None
    assert fit_refusal(_networks(MIN_NETWORKS, 3), 0, include_unclean=False) is None


def test_an_incomplete_clean_lookup_table_is_refused_unless_included() -> None:
    enough = _networks(MIN_NETWORKS, 0)
    refusal = fit_refusal(enough, 2, include_unclean=False)
    assert refusal is not None and "lacks 2 op keys" in refusal
    assert fit_refusal(enough, 2, include_unclean=True) is None
