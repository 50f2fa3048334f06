"""What confinement a strategy process gets: :class:`ConfinementReport`, its :class:`ConfinementLevel`, and
:class:`ConfinementError` for a mechanism that should have applied and did not.

Kept apart from the platform code so the parent (Help > About, the run log) can show a report without
importing anything platform-specific.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ConfinementLevel(StrEnum):
    """How far the operating system holds a strategy process.

    FULL: files, network, other processes and dangerous kernel calls are all closed by the kernel.
    PARTIAL: some of that is enforced, some is not (``missing`` of the report says what).
    NONE: nothing beyond ordinary process separation.
    """

    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


class ConfinementError(Exception):
    """A mechanism that the probe found on this machine could not be applied, or the caller asked for
    something unsafe (a read root that would expose /proc). The child must not run strategy code then."""


@dataclass(frozen=True)
class ConfinementReport:
    """The confinement of one (real or prospective) strategy process.

    ``mechanisms`` names what applies, for engineers and the run log; ``missing`` says, in words a trader
    can read, what this platform or kernel cannot enforce.
    """

    level: ConfinementLevel
    mechanisms: tuple[str, ...]
    missing: tuple[str, ...]

    def summary(self) -> str:
        """One line for Help > About, e.g. ``Strategy confinement: full (no_new_privs; seccomp allow-list)``."""
        line = f"Strategy confinement: {self.level.value}"
        if self.mechanisms:
            line += f" ({'; '.join(self.mechanisms)})"
        if self.missing:
            line += f". Not enforced: {'; '.join(self.missing)}"
        return line
