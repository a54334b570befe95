"""
Times as an operator gives them to history questions. Standard library
only: C{dhcpsuite-ctl} parses them where the operator's local time is.
"""

from __future__ import annotations

import datetime


class TimeError(ValueError):
    pass


def parse_time(text: str, local_zone: datetime.tzinfo | None = None) -> float:
    """
    Epoch seconds (C{1764590520}, C{1764590520.5}) or ISO 8601
    (C{2026-12-01T14:02}, C{...Z}, C{...+01:00}); without a zone, local
    time (C{local_zone}, default this host's).

    @raise TimeError: neither.
    """
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if value != value or value in (float("inf"), float("-inf")):
            raise TimeError(f"{text!r} is not a time")
        return value
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise TimeError(f"{text!r} is not a time (ISO 8601 such as 2026-12-01T14:02:00Z, or epoch seconds)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=local_zone) if local_zone is not None else moment.astimezone()
    return moment.timestamp()
