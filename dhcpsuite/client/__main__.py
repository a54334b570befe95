"""
C{python -m dhcpsuite.client --config FILE}: the client alone, in the
foreground, without twistd's start-up (plugin scan, log set-up), for the
fastest cold start. The daemon proper is C{twistd dhcpsuite} / tac/client.tac.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dhcpsuite.client")
    parser.add_argument("--config", "-c", required=True)
    parser.add_argument("--state-dir")
    args = parser.parse_args(argv)

    from twisted.internet import reactor
    from twisted.logger import globalLogBeginner, textFileLogObserver

    from dhcpsuite.client.service import make_client_service
    from dhcpsuite.config import ConfigError, load_config

    try:
        config = load_config(args.config)
        if args.state_dir:
            import attrs

            config = attrs.evolve(config, state_dir=args.state_dir)
    except ConfigError as e:
        sys.stderr.write(f"dhcpsuite: configuration error: {e}\n")
        return 2
    if config.section("client") is None:
        sys.stderr.write("dhcpsuite: the configuration has no [client] section\n")
        return 2
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)], redirectStandardIO=False)
    client = make_client_service(config.section("client"), state_dir=config.state_dir, reactor=reactor)
    client.privilegedStartService()
    reactor.callWhenRunning(client.startService)
    reactor.addSystemEventTrigger("before", "shutdown", client.stopService)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
