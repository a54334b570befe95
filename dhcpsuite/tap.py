# -*- test-case-name: tests.unit.test_tap -*-
"""
C{twistd dhcpsuite}: command-line options and the one place where the whole
daemon is composed (L{makeService}). The twistd plugin and every C{.tac} file
go through L{makeService}; nothing else wires components together.
"""

from __future__ import annotations

import os
import sys
from importlib import resources

from twisted.application import service
from twisted.internet import defer
from twisted.python import usage

from dhcpsuite import __version__
from dhcpsuite.config import Config, ConfigError, load_config, parse_config_text
from dhcpsuite.daemon import Daemon
from dhcpsuite.errors import StartupError

DEFAULT_CONFIG_RESOURCE = "default.toml"


def default_config_text() -> str:
    """
    The embedded default: a DHCPv4 server on C{srv0} for 10.77.0.0/24, which
    is what the README's self-contained demo builds.
    """
    return resources.files("dhcpsuite.examples").joinpath(DEFAULT_CONFIG_RESOURCE).read_text("utf-8")


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "Run dhcpsuite: DHCPv4 server and client, lease ingest and netlink "
        "reader, as configured in one TOML file (the embedded default serves "
        "10.77.0.0/24 on srv0)."
    )
    optParameters = [
        ["config", "c", None, "The TOML configuration file (default: the embedded default)."],
        ["state-dir", None, None, "Override state_dir (where leases are stored)."],
    ]

    def opt_version(self) -> None:
        print(f"dhcpsuite {__version__}")
        sys.exit(0)

    def postOptions(self) -> None:
        try:
            self["dhcpsuite"] = read_config(self["config"], self["state-dir"])
        except ConfigError as e:
            # One line and a non-zero exit, before anything binds: usage.UsageError
            # would make twistd print its whole help text around the message.
            sys.stderr.write(f"dhcpsuite: configuration error: {e}\n")
            sys.stderr.flush()
            raise SystemExit(2)
        parent = getattr(self, "parent", None)
        if parent is not None and parent.get("nodaemon") and parent.get("logfile") in (None, "", "-") and not parent.get("logger"):
            # twistd -n logs text to stdout; ours escapes what the network sent.
            parent["logger"] = "dhcpsuite.logs.text_stdout"


def read_config(path: str | None, state_dir: str | None = None) -> Config:
    config = load_config(path) if path else parse_config_text(default_config_text(), "<embedded default>")
    if state_dir:
        from dhcpsuite.records import evolve

        config = evolve(config, state_dir=state_dir)
    return config


def _refuse_to_start(error: Exception) -> None:
    # One line and a non-zero exit, as for a bad configuration: the operator
    # needs the cause, not twistd's traceback around it.
    sys.stderr.write(f"dhcpsuite: cannot start: {error}\n")
    sys.stderr.flush()
    raise SystemExit(3)


class OrderedMultiService(service.MultiService):
    """
    Stops its children one at a time, last started first, each only after
    the previous one's stop has finished: a client still sending RELEASE
    and removing addresses needs the netlink configurator it shares, which
    plain MultiService would stop at the same moment.
    """

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except StartupError as e:
            _refuse_to_start(e)

    def startService(self) -> None:
        try:
            super().startService()
        except StartupError as e:
            _refuse_to_start(e)

    def stopService(self):
        service.Service.stopService(self)
        d = defer.succeed(None)
        for child in reversed(list(self)):
            d.addBoth(lambda _, child=child: defer.maybeDeferred(child.stopService))
        return d


def makeService(options) -> service.MultiService:
    """
    Build every configured component from the validated configuration.

    @param options: an L{Options} (or any mapping) whose C{"dhcpsuite"} key is
        a L{Config}, or a L{Config} itself.
    """
    config = options if isinstance(options, Config) else options["dhcpsuite"]
    top = OrderedMultiService()
    top.setName("dhcpsuite")
    daemon = Daemon(config)
    # Children start in this order and stop in reverse: netlink first, so
    # the others can ask it about interfaces from their own start.

    netlink_config = config.section("netlink")
    if netlink_config is not None:
        from dhcpsuite.netlink.service import make_netlink_service

        daemon.netlink = make_netlink_service(netlink_config)
        daemon.netlink.setServiceParent(top)

    client_config = config.section("client")
    ingest_config = config.section("ingest")
    if client_config is not None or ingest_config is not None:
        from dhcpsuite.leases.registry import LeaseRegistry

        daemon.registry = LeaseRegistry()

    server_config = config.section("server")
    if server_config is not None:
        from dhcpsuite.server.service import make_server_service

        # The registry feeds subnet options written as wan:INTERFACE.
        daemon.server = make_server_service(server_config, state_dir=config.state_dir, netlink=daemon.netlink,
                                            registry=daemon.registry)
        daemon.server.setServiceParent(top)

    if client_config is not None:
        from dhcpsuite.client.shell.service import make_client_service

        daemon.client = make_client_service(
            client_config,
            state_dir=config.state_dir,
            registry=daemon.registry,
            configurator=daemon.netlink.configurator if daemon.netlink is not None else None,
            netlink=daemon.netlink.reader if daemon.netlink is not None else None,
        )
        daemon.client.setServiceParent(top)

    if ingest_config is not None:
        from dhcpsuite.ingest.service import make_ingest_service

        daemon.ingest = make_ingest_service(
            ingest_config,
            daemon.registry,
            configurator=daemon.netlink.configurator if daemon.netlink is not None else None,
        )
        daemon.ingest.setServiceParent(top)

    control_config = config.section("control")
    if control_config is not None:
        from dhcpsuite.control.service import make_control_service

        make_control_service(control_config, daemon).setServiceParent(top)

    from dhcpsuite.reload import Reloader, SighupService

    reconfigurable = {"server": daemon.server, "client": daemon.client, "ingest": daemon.ingest, "control": daemon.control}
    daemon.reloader = Reloader(
        daemon, _config_reader(options, config), {name: c for name, c in reconfigurable.items() if c is not None}
    )
    from twisted.internet import reactor

    SighupService(reactor, daemon.reloader).setServiceParent(top)
    top.daemon = daemon
    return top


def _config_reader(options, config: Config):
    """
    How a reload reads the configuration again: the same file and
    command-line overrides as at start (a L{Config} given directly: its
    source file, when it has one).
    """
    if isinstance(options, Config):
        path = config.source if os.path.isfile(config.source) else None
        if path is None:
            def unreadable() -> Config:
                raise ConfigError("", f"nothing to reload: the configuration came from {config.source}, not a file")

            return unreadable
        # An override given to read_config at start is the state_dir it returned.
        return lambda: read_config(path, config.state_dir)
    return lambda: read_config(options["config"], options["state-dir"])
