"""
C{python -m dhcpsuite.client --config FILE}: the client alone, in the
foreground, without twistd's start-up (plugin scan, log set-up), for the
fastest cold start: the first acquisition runs before Twisted is imported
(L{dhcpsuite.client.early}). The daemon proper is C{twistd dhcpsuite} /
tac/client.tac.
"""

from __future__ import annotations

import gc
import sys

from dhcpsuite.records import Record, evolve
from dhcpsuite.tomlcache import DEFAULT_DIRECTORY, DEFAULT_MAX_ENTRIES

USAGE = """usage: python -m dhcpsuite.client --config FILE [--state-dir DIR] [--early-timeout SECONDS]
                                  [--cache-dir DIR] [--cache-entries N]

  -c, --config FILE          the configuration file (required)
  --state-dir DIR            instead of the file's state_dir
  --early-timeout SECONDS    acquire before the reactor starts for at most this
                             long (0: off; default 2)
  --cache-dir DIR            keep the parsed configuration file here for the
                             next start ("": off; default /var/cache/dhcpsuite)
  --cache-entries N          entries the cache directory keeps at most, oldest
                             removed first (default 16)
  -h, --help                 show this and exit
"""


class Arguments(Record):
    config: str
    state_dir: str | None = None
    early_timeout: float = 2.0
    cache_dir: str = DEFAULT_DIRECTORY
    cache_entries: int = DEFAULT_MAX_ENTRIES


class UsageError(Exception):
    pass


def _seconds(text: str) -> float:
    """
    A number of seconds: finite (C{nan} and C{inf} are floats too).
    """
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


# Option -> (attribute, conversion). Read by hand rather than with argparse,
# which costs ~10 ms of a ~40 ms cold start (its help formatter imports
# shutil, and gettext looks up translations for every message).
_OPTIONS = {
    "--config": ("config", str),
    "-c": ("config", str),
    "--state-dir": ("state_dir", str),
    "--early-timeout": ("early_timeout", _seconds),
    "--cache-dir": ("cache_dir", str),
    "--cache-entries": ("cache_entries", int),
}
# Options whose value must be at least this.
_MINIMUM = {"cache_entries": 1, "early_timeout": 0}


def parse_arguments(argv: list[str]) -> Arguments | None:
    """
    @return: the arguments, or L{None} for C{--help}.
    @raise UsageError: naming the problem.
    """
    values: dict[str, object] = {}
    items = iter(argv)
    for item in items:
        if item in ("-h", "--help"):
            return None
        option, equals, value = item.partition("=") if item.startswith("--") else (item, "", "")
        if option not in _OPTIONS:
            raise UsageError(f"unrecognised argument {item!r}")
        if not equals:
            value = next(items, None)
            if value is None:
                raise UsageError(f"{option} needs a value")
        name, convert = _OPTIONS[option]
        try:
            values[name] = convert(value)
        except ValueError:
            raise UsageError(f"{option}: {value!r} is not a number") from None
        if name in _MINIMUM and values[name] < _MINIMUM[name]:
            raise UsageError(f"{option}: {value!r} is less than {_MINIMUM[name]}")
    if "config" not in values:
        raise UsageError("--config is required")
    return Arguments(**values)  # type: ignore[arg-type]


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
    try:
        args = parse_arguments(sys.argv[1:] if argv is None else argv)
    except UsageError as e:
        sys.stderr.write(f"{USAGE}\npython -m dhcpsuite.client: error: {e}\n")
        return 2
    if args is None:
        sys.stdout.write(USAGE)
        return 0

    from dhcpsuite import lazylog
    from dhcpsuite.config import ConfigError, load_config

    lazylog.hold()
    try:
        config = load_config(args.config, args.cache_dir or None, args.cache_entries)
        if args.state_dir:
            config = evolve(config, state_dir=args.state_dir)
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
