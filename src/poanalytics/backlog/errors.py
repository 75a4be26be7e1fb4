"""The backlog error class: ``BacklogError`` with codes ``backlog.<what>`` (see docs/errors.md)."""

from __future__ import annotations

from ..errors import PoaError


class BacklogError(PoaError):
    """A backlog call that cannot be answered as asked: a product file that cannot be read, an
    unknown item or framework, an override without a reason, a decision log that cannot be written."""

    code = "backlog"
