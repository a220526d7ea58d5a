"""The enrolled faces a presence check compares with: the claimed teacher's and, for the impostor
check, those of the other teachers enrolled at the same school."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class EnrolledFaces:
    teacher_id: str | None = None  # the claimed teacher; None: nothing to check
    teacher: tuple[np.ndarray, ...] = ()  # 128-d encodings
    colleagues: dict[str, tuple[np.ndarray, ...]] = field(default_factory=dict)  # id -> encodings

    def version_parts(self) -> list:
        """Ids and raw encodings, as folded into the presence version (a new enrolment makes the
        stored results stale)."""
        parts: list = [self.teacher_id, *(e.tobytes() for e in self.teacher)]
        for other in sorted(self.colleagues):
            parts += [other, *(e.tobytes() for e in self.colleagues[other])]
        return parts
