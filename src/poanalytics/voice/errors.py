"""The voice error class: ``VoiceError`` with codes ``voice.<what>`` (see docs/errors.md)."""

from __future__ import annotations

from ..errors import PoaError


class VoiceError(PoaError):
    """A voice-of-the-customer call that cannot be answered as asked: an unknown source, a bad
    date range, a taxonomy that cannot be read, a refresh that cannot be written."""

    code = "voice"
