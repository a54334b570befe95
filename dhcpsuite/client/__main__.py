"""
C{python -m dhcpsuite.client --config FILE}: the client alone, in the
foreground, without twistd's start-up (plugin scan, log set-up), for the
fastest cold start: the first acquisition runs before Twisted is imported
(L{dhcpsuite.client.early}). The daemon proper is C{twistd dhcpsuite} /
tac/client.tac.
"""

from __future__ import annotations

import argparse
import gc
import sys


def main(argv: list[str] | None = None) -> int:
    # Start-up allocates many objects that live for good (modules, classes):
    # the cyclic collector would walk them repeatedly for nothing (~5 ms of
    # a ~95 ms cold start here). It is enabled again before the reactor runs.
    gc.disable()
    try:
        return _main(argv)
    finally:
        gc.enable()


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dhcpsuite.client")
    parser.add_argument("--config", "-c", required=True)
    parser.add_argument("--state-dir")
    parser.add_argument("--early-timeout", type=float, default=2.0, metavar="SECONDS",
                        help="acquire before the reactor starts for at most this long (0: off; default 2)")
    args = parser.parse_args(argv)

    from dhcpsuite import lazylog
    from dhcpsuite.config import ConfigError, load_config

    lazylog.hold()
    try:
        config = load_config(args.config)
        if args.state_dir:
            import attrs

            config = attrs.evolve(config, state_dir=args.state_dir)
    except ConfigError as e:
        sys.stderr.write(f"dhcpsuite: configuration error: {e}\n")
        return 2
    client_cfg = config.section("client")
    if client_cfg is None:
        sys.stderr.write("dhcpsuite: the configuration has no [client] section\n")
        return 2
    early = {}
    if args.early_timeout > 0:
        from dhcpsuite.client.early import acquire

        early = acquire(client_cfg, config.state_dir, args.early_timeout)

    from twisted.internet import reactor
    from twisted.logger import globalLogBeginner, textFileLogObserver

    from dhcpsuite.client.shell.service import make_client_service

    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)], redirectStandardIO=False)
    lazylog.release()
    client = make_client_service(client_cfg, state_dir=config.state_dir, reactor=reactor)
    client.hand_over(early)
    client.privilegedStartService()
    reactor.callWhenRunning(client.startService)
    reactor.callWhenRunning(gc.enable)
    reactor.addSystemEventTrigger("before", "shutdown", client.stopService)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
