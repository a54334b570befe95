"""
The running daemon's parts, as the control plane sees them.

L{dhcpsuite.tap.makeService} fills one L{Daemon} while it composes the
services; the HTTP API, metrics and status page read from it. Any component
may be absent (its configuration section was).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import attrs

from dhcpsuite import __version__
from dhcpsuite.config import Config

if TYPE_CHECKING:
    # Names for the type checker only: the services import this module's
    # users, and the daemon must not import every component to describe it.
    from dhcpsuite.client.service import ClientService
    from dhcpsuite.control.web import ControlSite
    from dhcpsuite.ingest.service import IngestService
    from dhcpsuite.interfaces import IComponentHealth, ILeaseRegistry
    from dhcpsuite.netlink.service import NetlinkService
    from dhcpsuite.reload import Reloader
    from dhcpsuite.server.service import ServerService


@attrs.define
class Daemon:
    config: Config
    started: float = attrs.field(factory=time.time)
    version: str = __version__
    server: ServerService | None = None
    netlink: NetlinkService | None = None
    client: ClientService | None = None
    ingest: IngestService | None = None
    registry: ILeaseRegistry | None = None
    # The control site (its [control] section changes live) and the
    # reloader (dhcpsuite.reload), when composed by tap.makeService.
    control: ControlSite | None = None
    reloader: Reloader | None = None

    def components(self) -> dict[str, IComponentHealth]:
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
