"""Stage versions: an analyser's own version with the values of its settings and the frame-stream
parameters of its feed folded in, so a stored result is reused only when they all match."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any, Protocol, runtime_checkable

from pipeline.analysis.analyser import Analyser
from pipeline.analysis.host import check_inputs, finish_order
from pipeline.analysis.stream import FrameStream


@runtime_checkable
class VersionParts(Protocol):
    """A setting value that says itself how it enters the digest (raw bytes stay bytes)."""

    def version_parts(self) -> list: ...


def stage_versions(
    analysers: Sequence[type[Analyser]], inputs: Mapping[str, Any], stream: FrameStream
) -> dict[str, str]:
    """The stage version of each analyser, given the settings in ``inputs`` (by name). Raises
    ``ValueError`` for analysers the host would refuse (see ``finish_order``, ``check_inputs``)."""
    check_inputs(analysers, inputs)
    finish_order(analysers)
    return {cls.stage: stage_version(cls, inputs, stream) for cls in analysers}


def stage_version(analyser: type[Analyser], inputs: Mapping[str, Any], stream: FrameStream) -> str:
    """``version``, or ``version-digest`` of its settings' values and its frame-stream parameters."""
    parts = [p for s in analyser.settings for p in _parts(inputs.get(s.name, s.default))]
    parts += stream.version_parts(analyser.feed)
    return f"{analyser.version}-{_digest(parts)}" if parts else analyser.version


def _parts(value: Any) -> list:
    if isinstance(value, VersionParts):
        return value.version_parts()
    if is_dataclass(value) and not isinstance(value, type):
        return [asdict(value)]
    return [value]


def _digest(parts: list) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode())
    return h.hexdigest()[:10]
