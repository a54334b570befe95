"""
The running daemon's parts, as the control plane sees them.

L{dhcpsuite.tap.makeService} fills one L{Daemon} while it composes the
services; the HTTP API, metrics and status page read from it. Any component
may be absent (its configuration section was).
"""

from __future__ import annotations

import time
from typing import Any

import attrs

from dhcpsuite import __version__
from dhcpsuite.config import Config


@attrs.define
class Daemon:
    config: Config
    started: float = attrs.field(factory=time.time)
    version: str = __version__
    server: Any = None
    netlink: Any = None
    client: Any = None
    ingest: Any = None
    registry: Any = None
    # The control site (its [control] section changes live) and the
    # reloader (dhcpsuite.reload), when composed by tap.makeService.
    control: Any = None
    reloader: Any = None

    def components(self) -> dict[str, Any]:
        return {
            name: component
            for name, component in (
                ("server", self.server),
                ("netlink", self.netlink),
                ("client", self.client),
                ("ingest", self.ingest),
            )
            if component is not None
        }
