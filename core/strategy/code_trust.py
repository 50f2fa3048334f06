"""Must the trader confirm before this strategy code runs? One answer for the editor, the AI tab and the CLI.

Strategy code always runs in the sandbox child, but how much the operating system confines that child depends on
the computer (:func:`core.strategy.sandbox.confinement.probe_confinement`: FULL, PARTIAL or NONE). Code the
trader wrote is theirs to run. Code they did not write (Gemini's answer, another member's strategy) runs only
after they confirmed with the warning in front of them, unless the confinement is FULL: then the sandbox is the
protection the app promises and asking would only train the trader to click through.

This lives in ``core.strategy`` (not ``core.services``) because ``core.ai`` must ask it too and sits below the
services; every caller above imports it from here, so no two of them can decide differently.
"""

from __future__ import annotations

from enum import StrEnum

from core.strategy.sandbox.confinement import ConfinementLevel, ConfinementReport


class CodeOrigin(StrEnum):
    """Who wrote the code about to run."""

    OWN = "own"  # the trader typed it (or opened their own file)
    AI = "ai"  # Gemini's answer, not yet read and run by the trader
    OTHER_MEMBER = "other_member"  # a strategy another member shared


_WHO = {
    CodeOrigin.AI: "Gemini wrote this code and you have not run it yet",
    CodeOrigin.OTHER_MEMBER: "Another member wrote this strategy",
}


def needs_confirmation(origin: CodeOrigin, report: ConfinementReport) -> str | None:
    """The warning to put in front of the trader before code of ``origin`` runs on a computer whose confinement
    is ``report``; None when it may run without asking (the trader's own code, or FULL confinement)."""
    if origin == CodeOrigin.OWN or report.level == ConfinementLevel.FULL:
        return None
    missing = "; ".join(report.missing) or "the reason was not reported"
    if report.level == ConfinementLevel.PARTIAL:
        how = f"the operating system only partly confines strategy code here ({missing})"
    else:
        how = (f"the operating system does not confine strategy code here ({missing}); only the sandbox's own "
               "checks stand between it and your files and network")  # fmt: skip
    return f"{_WHO[origin]}, and {how}. Run it only if you have read it and trust it."
