# -*- test-case-name: tests.unit.test_reload -*-
"""
Live reconfiguration: re-read the configuration file, validate all of it,
refuse what cannot change while running (naming the key), and hand each
component its new section through L{IReconfigurable}, all or nothing.

Kea's C{config-reload} likewise re-reads the whole file and keeps the old
configuration when the new one is bad; dnsmasq's SIGHUP re-reads only its
hosts files. Here subnets, pools, reservations, options, lease times, rate
limits, client interfaces, ingest's managed interfaces and the control
token all change live; the keys in L{FIXED_KEYS} do not.

Triggered by SIGHUP (L{install_sighup}), C{POST /api/v1/config/reload} and
C{dhcpsuite-ctl reload}.
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Callable

import attrs
from twisted.application.service import Service
from twisted.logger import Logger

from dhcpsuite.config import Config, ConfigError
from dhcpsuite.interfaces import IReconfigurable

log = Logger()

# Keys of each section that only a restart changes, with why in a word:
# they name sockets, stores or files opened once. "*" is the whole section
# (as for a section missing here).
FIXED_KEYS: dict[str, tuple[str, ...]] = {
    # The store is opened once and holds every lease (and its database's
    # connection settings); replies' path is chosen per socket at open.
    "server": ("lease_store", "postgresql", "link_replies"),
    # The reader's socket and groups.
    "netlink": ("*",),
    # The listening endpoint and what it decodes and applies.
    "ingest": ("endpoint", "ipc_mode", "layout", "apply_to_interface"),
    # Where the API listens (and so who may reach it).
    "control": ("listen", "allow_remote"),
    "client": (),
}


class ReloadRefused(ConfigError):
    """
    The new file is valid but changes a key that cannot change live.
    """


def refuse_fixed(old: Config, new: Config) -> None:
    """
    @raise ReloadRefused: naming the first key that differs and may not.
    """
    if old.state_dir != new.state_dir:
        raise ReloadRefused("state_dir", "cannot change while running (restart to apply)")
    for name in sorted({name for name, _ in old} | {name for name, _ in new}):
        before, after = old.section(name), new.section(name)
        if (before is None) != (after is None):
            raise ReloadRefused(name, f"adding or removing the [{name}] section needs a restart")
        if before == after:
            continue
        fixed = FIXED_KEYS.get(name, ("*",))
        if "*" in fixed:
            raise ReloadRefused(name, f"the [{name}] section cannot change while running (restart to apply)")
        for key in fixed:
            if getattr(before, key) != getattr(after, key):
                raise ReloadRefused(f"{name}.{key}", "cannot change while running (restart to apply)")


@attrs.define
class Reloader:
    """
    @ivar read: reads and validates the configuration file again (the same
        path and command-line overrides as at start).
    @ivar components: by section name, the running L{IReconfigurable}.
    """

    daemon: Any
    read: Callable[[], Config]
    components: dict[str, Any] = attrs.field(factory=dict)
    counters: dict[str, int] = attrs.field(factory=lambda: {"applied": 0, "unchanged": 0, "failed": 0})

    def reload(self) -> dict:
        """
        Re-read, check and apply. Nothing changes unless everything can.

        @return: C{{"config": source, "changed": [section, ...]}}.
        @raise ConfigError: the file is bad (or L{ReloadRefused}); the
            running configuration is untouched.
        """
        try:
            new = self.read()
            old = self.daemon.config
            refuse_fixed(old, new)
            changed = [name for name, section in new if section != old.section(name)]
            for name in changed:
                if name not in self.components:
                    raise ReloadRefused(name, f"the [{name}] section cannot change while running (restart to apply)")
            appliers = [IReconfigurable(self.components[name]).prepare_reconfigure(new.section(name)) for name in changed]
        except ConfigError as e:
            self.counters["failed"] += 1
            log.error("Configuration reload refused, the running configuration is unchanged: {error}",
                      error=str(e), key=e.path)
            raise
        for apply in appliers:
            apply()
        self.daemon.config = new
        self.counters["applied" if changed else "unchanged"] += 1
        log.info("Configuration reloaded from {source}: {changed}", source=new.source,
                 changed=", ".join(changed) or "nothing changed")
        return {"config": new.source, "changed": changed}

    def reload_logged(self) -> None:
        """
        For SIGHUP: a refusal is already one log line; nothing to answer.
        """
        try:
            self.reload()
        except ConfigError:
            pass


def install_sighup(reactor: Any, reload: Callable[[], None]) -> Callable[[], None]:
    """
    Reload on SIGHUP, from the reactor's thread: the handler only asks the
    reactor to call C{reload} (C{callFromThread} is safe from a signal
    handler; it writes to the reactor's waker).

    @return: restores the previous handler.
    """
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: reactor.callFromThread(reload))

    def restore() -> None:
        signal.signal(signal.SIGHUP, previous)

    return restore


class SighupService(Service):
    """
    Installs the SIGHUP handler while the daemon runs (only in the main
    thread, where Python delivers signals; a test building the daemon
    elsewhere gets no handler).
    """

    name = "reload-on-sighup"

    def __init__(self, reactor: Any, reloader: Reloader) -> None:
        self.reactor = reactor
        self.reloader = reloader
        self._restore: Callable[[], None] | None = None

    def startService(self) -> None:
        super().startService()
        if threading.current_thread() is threading.main_thread():
            self._restore = install_sighup(self.reactor, self.reloader.reload_logged)

    def stopService(self) -> Any:
        if self._restore is not None:
            self._restore()
            self._restore = None
        return super().stopService()
