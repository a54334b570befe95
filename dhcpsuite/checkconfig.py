"""
C{dhcpsuite-check-config FILE}: validate a configuration without starting
anything, as C{kea-dhcp4 -t} and C{dnsmasq --test} do. Exit 0 when valid,
2 with one line naming the key and the problem when not.
"""

from __future__ import annotations

import sys

from dhcpsuite.config import ConfigError
from dhcpsuite.tap import read_config


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print("usage: dhcpsuite-check-config [FILE]   (no FILE: the embedded default)")
        return 0 if args and args[0] in ("-h", "--help") else 2
    try:
        config = read_config(args[0] if args else None)
    except ConfigError as e:
        print(f"dhcpsuite: configuration error: {e}", file=sys.stderr)
        return 2
    names = ", ".join(name for name, _ in config) or "nothing"
    print(f"{config.source}: OK ({names})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
