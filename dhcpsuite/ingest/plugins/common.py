"""
What both plugins share (standard library only): C-like number parsing,
where to send, and the send itself.
"""

from __future__ import annotations

import os
import re
import sys

from dhcpsuite.ingest import layout as _layout
from dhcpsuite.ingest import sp

# The target, as a nanomsg address (tcp://HOST:PORT or ipc:///PATH);
# RDK-B's is fixed at DHCP_MANAGER_ADDR.
ADDRESS_VARIABLE = "DHCPSUITE_INGEST_ADDRESS"
# The PLUGIN_MSG layout to build (a name from dhcpsuite.ingest.layout).
LAYOUT_VARIABLE = "DHCPSUITE_INGEST_LAYOUT"

_LEADING_INTEGER = re.compile(r"\s*([+-]?\d+)")


def atoi(text: str | None) -> int:
    """
    C's C{atoi}/C{strtol(text, NULL, 10)}: leading blanks, a sign, digits; 0
    when there are none.
    """
    if not text:
        return 0
    match = _LEADING_INTEGER.match(text)
    return int(match.group(1)) if match else 0


def hex_value(text: str | None) -> int:
    """
    C{strtol(text, NULL, 16)}, for udhcpc's C{optNN} hex dumps.
    """
    if not text:
        return 0
    match = re.match(r"\s*([+-]?)(?:0[xX])?([0-9a-fA-F]+)", text)
    if not match:
        return 0
    value = int(match.group(2), 16)
    return -value if match.group(1) == "-" else value


def u32(value: int) -> int:
    """
    A C int stored into a C{uint32_t} field.
    """
    return value & 0xFFFFFFFF


def i32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value & 0x80000000 else value


def target(environ) -> str:
    return environ.get(ADDRESS_VARIABLE) or sp.DEFAULT_ADDRESS


def chosen_layout(environ) -> _layout.Layout:
    return _layout.get_layout(environ.get(LAYOUT_VARIABLE) or _layout.DEFAULT.name)


def send(message: bytes, environ, program: str, push=None) -> bool:
    """
    Send, with RDK-B's retries; complain on stderr (udhcpc/dibbler log it)
    when it could not be sent.
    """
    push = push or sp.push
    address = target(environ)
    try:
        sent = push(address, message)
    except ValueError as e:  # a malformed address
        sys.stderr.write(f"{program}: {e}\n")
        return False
    if not sent:
        sys.stderr.write(f"{program}: could not send the lease message to {address}\n")
    return sent


def environment():
    """
    The process environment as text, undecodable bytes kept (so they reach
    the message as they were).
    """
    return dict(os.environ)


def run(program: str, build_message, argv=None, env=None, push=None) -> int:
    """
    A plugin's whole run: the event from argv[1], the message built from the
    environment, sent with retries. Always 0, as RDK-B's plugins: a failing
    script must not upset the DHCP client that runs it.
    """
    argv = sys.argv if argv is None else argv
    env = environment() if env is None else env
    event = argv[1] if len(argv) > 1 else ""
    try:
        message = build_message(event, env)
    except KeyError as e:  # an unknown layout name
        sys.stderr.write(f"{program}: {e.args[0]}\n")
        return 0
    if message is not None:
        send(message, env, program, push)
    return 0
