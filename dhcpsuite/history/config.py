"""
C{[server.history]}: whether and how the lease history is kept.
"""

from __future__ import annotations

import attrs

from dhcpsuite.config import Section


@attrs.frozen
class HistoryConfig:
    """
    @ivar server_name: recorded with every event (which server of several
        made the change); empty: this host's name.
    @ivar max_pending: records queued for the writer thread at most; more
        are dropped and counted, never waited for on the ACK path.
    @ivar max_query_days: the longest C{from}..C{to} a query may span.
    @ivar max_results: the most records one query returns.
    """

    enabled: bool = False
    retention_days: int = 365
    offers: bool = False
    server_name: str = ""
    max_pending: int = 100_000
    max_query_days: int = 366
    max_results: int = 10_000


def parse_history_config(section: Section | None) -> HistoryConfig:
    default = HistoryConfig()
    if section is None:
        return default
    config = HistoryConfig(
        enabled=section.boolean("enabled", default.enabled),
        retention_days=section.integer("retention_days", default.retention_days, minimum=1, maximum=36500),
        offers=section.boolean("offers", default.offers),
        server_name=section.string("server_name", default.server_name),
        max_pending=section.integer("max_pending", default.max_pending, minimum=100, maximum=10_000_000),
        max_query_days=section.integer("max_query_days", default.max_query_days, minimum=1, maximum=36500),
        max_results=section.integer("max_results", default.max_results, minimum=1, maximum=1_000_000),
    )
    section.finish()
    return config
