# -*- test-case-name: tests.unit.test_client_config -*-
"""
The C{[client]} section: one C{[[client.interface]]} table per interface.

    [client]
    [[client.interface]]
    name = "wan0"
    hostname = "gw"                  # option 12
    client_id = "mac"                # option 61: "mac" (01 + MAC, default), "none", hex "01:aa:..", or text
    vendor_class = "dhcpsuite"       # option 60
    request_options = [42, 119]      # appended to the default parameter request list
    broadcast_flag = false
    rapid_commit = false             # option 80 (RFC 4039)
    arp_probe = true                 # RFC 5227 conflict detection before binding
    initial_delay = 0.05             # s, random in [0, initial_delay] before the first packet
    offer_window = 0.0               # s to collect OFFERs (0: first one)
    renew_minimum = 60.0             # s, RENEWING/REBINDING resend floor (RFC 2131 4.4.5)
    request_attempts = 4
    minimum_lease = 60.0             # s, a shorter lease time (even 0) is used as this long
    minimum_t1 = 2.0                 # s, a sooner T1/T2 is replaced by the RFC default
    script = "/etc/udhcpc/default.script"   # hook program (udhcpc-compatible)
    configure = true                 # apply the lease through the interface configurator
    route_metric = 0
    release_on_stop = false          # RELEASE on stop (else DROP and keep the lease)
    persist = true                   # keep the last lease for INIT-REBOOT
    # inform = "192.0.2.10/24"       # static address: DHCPINFORM only
"""

from __future__ import annotations

from ipaddress import IPv4Interface

from dhcpsuite.client.core.lease import Lease
from dhcpsuite.client.core.machine import DEFAULT_REQUEST_OPTIONS, ClientMachine, Settings
from dhcpsuite.client.core.schedule import Schedule
from dhcpsuite.config import ConfigError, Section
from dhcpsuite.hexbytes import parse_hex
from dhcpsuite.records import Record, evolve

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from dhcpsuite.client.system.urandom import RandomSource

# The longest interface name Linux takes (IFNAMSIZ less the NUL).
_IFNAME_MAX = 15


class InterfaceConfig(Record):
    name: str
    client_id: str = "mac"
    hostname: str | None = None
    vendor_class: str | None = None
    request_options: tuple[int, ...] = tuple(int(o) for o in DEFAULT_REQUEST_OPTIONS)
    broadcast_flag: bool = False
    rapid_commit: bool = False
    arp_probe: bool = True
    schedule: Schedule = Schedule()
    script: str | None = None
    configure: bool = True
    route_metric: int | None = None
    release_on_stop: bool = False
    persist: bool = True
    inform: IPv4Interface | None = None

    def client_id_bytes(self, mac: bytes) -> bytes | None:
        """
        Option 61 for this interface with hardware address C{mac}.
        """
        value = self.client_id
        if value == "mac":
            return b"\x01" + mac
        if value == "none":
            return None
        if _is_hex(value):
            return parse_hex(value)
        # RFC 2132 section 9.14: type 0 is "not a hardware address".
        return b"\x00" + value.encode()

    def new_machine(self, mac: bytes, mtu: int | None, rng: RandomSource, remembered: Lease | None) -> ClientMachine:
        """
        The state machine for this interface, with hardware address C{mac},
        link MTU C{mtu} and the lease C{remembered} from the last run.
        """
        settings = Settings(
            mac=mac,
            client_id=self.client_id_bytes(mac),
            hostname=self.hostname,
            vendor_class=self.vendor_class.encode() if self.vendor_class else None,
            request_options=self.request_options,
            max_message_size=max(576, mtu or 1500),
            broadcast_flag=self.broadcast_flag,
            rapid_commit=self.rapid_commit,
            arp_probe=self.arp_probe,
            inform_address=self.inform.ip if self.inform is not None else None,
        )
        return ClientMachine(settings, self.schedule, rng, self.name, remembered)


class ClientConfig(Record):
    interfaces: tuple[InterfaceConfig, ...] = ()

    def interface(self, name: str) -> InterfaceConfig | None:
        return next((i for i in self.interfaces if i.name == name), None)


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _is_hex(value: str) -> bool:
    """
    Two or more hex octets, each optionally preceded by C{:} or C{-}
    (C{01:aa-bb0c}). By hand rather than with C{re}, which the early path
    does not import.
    """
    i = octets = 0
    while i < len(value):
        if octets and value[i] in ":-":
            i += 1
        pair = value[i:i + 2]
        if len(pair) != 2 or not _HEX_DIGITS.issuperset(pair):
            return False
        i += 2
        octets += 1
    return octets >= 2


def _valid_ifname(name: str) -> bool:
    # What the kernel refuses (dev_valid_name): "/", white space, NUL, too long.
    return 0 < len(name) <= _IFNAME_MAX and not any(c == "/" or c == "\0" or c.isspace() for c in name)


def parse_client_config(section: Section) -> ClientConfig:
    interfaces = []
    for table in section.tables("interface"):
        interfaces.append(_parse_interface(table))
        table.finish()
    names = [i.name for i in interfaces]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise ConfigError(f"{section.key_path('interface')}[{index}].name", f"{name!r} is configured twice")
    return ClientConfig(tuple(interfaces))


def _parse_interface(s: Section) -> InterfaceConfig:
    name = s.string("name")
    if not _valid_ifname(name):
        raise s.error("name", f"{name!r} is not an interface name")
    client_id = s.string("client_id", "mac")
    if client_id == "":
        raise s.error("client_id", "must not be empty (use \"none\" to send no client identifier)")
    extra = s.raw("request_options", [])
    if not isinstance(extra, list) or not all(isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= 254 for c in extra):
        raise s.error("request_options", "must be a list of option codes (1 to 254)")
    request_options = tuple(int(o) for o in DEFAULT_REQUEST_OPTIONS)
    request_options += tuple(c for c in extra if c not in request_options)
    defaults = Schedule()
    schedule = evolve(
        defaults,
        initial_delay=s.number("initial_delay", defaults.initial_delay, minimum=0),
        offer_window=s.number("offer_window", defaults.offer_window, minimum=0),
        renew_minimum=s.number("renew_minimum", defaults.renew_minimum, minimum=1),
        request_attempts=s.integer("request_attempts", defaults.request_attempts, minimum=1, maximum=100),
        minimum_lease=s.number("minimum_lease", defaults.minimum_lease, minimum=2),
        minimum_t1=s.number("minimum_t1", defaults.minimum_t1, minimum=0),
    )
    return InterfaceConfig(
        name=name,
        client_id=client_id,
        hostname=s.string("hostname", None),
        vendor_class=s.string("vendor_class", None),
        request_options=request_options,
        broadcast_flag=s.boolean("broadcast_flag", False),
        rapid_commit=s.boolean("rapid_commit", False),
        arp_probe=s.boolean("arp_probe", True),
        schedule=schedule,
        script=s.string("script", None),
        configure=s.boolean("configure", True),
        route_metric=s.integer("route_metric", None, minimum=0, maximum=0xFFFFFFFF),
        release_on_stop=s.boolean("release_on_stop", False),
        persist=s.boolean("persist", True),
        inform=s.parsed("inform", IPv4Interface, "an IPv4 address with prefix (a.b.c.d/n)", None),
    )
