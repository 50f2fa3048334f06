"""The one rule for running code the trader did not write: every origin at every confinement level."""

from __future__ import annotations

import pytest

from core.strategy.code_trust import CodeOrigin, needs_confirmation
from core.strategy.sandbox.confinement import ConfinementLevel
from tests.ai.confinement import NO_LANDLOCK, NO_SECCOMP, report

FULL, PARTIAL, NONE = ConfinementLevel.FULL, ConfinementLevel.PARTIAL, ConfinementLevel.NONE


@pytest.mark.parametrize("level", list(ConfinementLevel))
def test_the_trader_s_own_code_never_asks(level: ConfinementLevel) -> None:
    assert needs_confirmation(CodeOrigin.OWN, report(level)) is None


@pytest.mark.parametrize("origin", [CodeOrigin.AI, CodeOrigin.OTHER_MEMBER])
def test_full_confinement_never_asks(origin: CodeOrigin) -> None:
    assert needs_confirmation(origin, report(FULL)) is None


@pytest.mark.parametrize(
    ("origin", "who"),
    [(CodeOrigin.AI, "Gemini wrote this code"), (CodeOrigin.OTHER_MEMBER, "Another member wrote this strategy")],
)
def test_partial_confinement_asks_naming_the_author_and_what_is_missing(origin: CodeOrigin, who: str) -> None:
    warning = needs_confirmation(origin, report(PARTIAL))
    assert warning is not None
    assert warning.startswith(who) and "only partly confines" in warning and NO_LANDLOCK in warning
    assert warning.endswith("Run it only if you have read it and trust it.")


@pytest.mark.parametrize("origin", [CodeOrigin.AI, CodeOrigin.OTHER_MEMBER])
def test_no_confinement_asks_and_says_only_the_sandbox_checks_remain(origin: CodeOrigin) -> None:
    warning = needs_confirmation(origin, report(NONE))
    assert warning is not None
    assert "does not confine" in warning and NO_LANDLOCK in warning and NO_SECCOMP in warning
    assert "only the sandbox's own checks" in warning


def test_every_origin_at_every_level_is_decided() -> None:
    """The whole table at once, so a new origin or level cannot slip through undecided."""
    asks = {(o, lv): needs_confirmation(o, report(lv)) is not None for o in CodeOrigin for lv in ConfinementLevel}
    assert asks == {
        (CodeOrigin.OWN, FULL): False, (CodeOrigin.OWN, PARTIAL): False, (CodeOrigin.OWN, NONE): False,
        (CodeOrigin.AI, FULL): False, (CodeOrigin.AI, PARTIAL): True, (CodeOrigin.AI, NONE): True,
        (CodeOrigin.OTHER_MEMBER, FULL): False, (CodeOrigin.OTHER_MEMBER, PARTIAL): True,
        (CodeOrigin.OTHER_MEMBER, NONE): True,
    }  # fmt: skip


def test_a_report_without_reasons_still_warns() -> None:
    bare = report(PARTIAL).__class__(level=PARTIAL, mechanisms=(), missing=())
    warning = needs_confirmation(CodeOrigin.AI, bare)
    assert warning is not None and "the reason was not reported" in warning
