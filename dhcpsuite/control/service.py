"""
The control plane's listening service.
"""

from __future__ import annotations

from typing import Any

from twisted.application import strports
from twisted.application.service import IService

from dhcpsuite.control.config import ControlConfig
from dhcpsuite.control.web import make_site
from dhcpsuite.daemon import Daemon


def make_control_service(config: ControlConfig, daemon: Daemon, reactor: Any = None) -> IService:
    service = strports.service(config.listen, make_site(daemon, config), reactor=reactor)
    service.setName("control")
    return service
