"""
Fuzz target: DHCPv4 packet decode, then encode of whatever decodes.

The only exception decode may raise is DecodeError; a decoded message must
encode, and decode again to an equal message.
Run: python tests/fuzz/fuzz_packet.py tests/fuzz/corpus/packet -max_total_time=60
"""

import sys

import atheris

with atheris.instrument_imports():
    from dhcpsuite.dhcp4.errors import DecodeError
    from dhcpsuite.dhcp4.packet import decode_message


def test_one_input(data: bytes) -> None:
    try:
        message = decode_message(data)
    except DecodeError:
        return
    again = decode_message(message.to_bytes())
    if again != message:
        raise AssertionError(f"round trip changed the message: {message!r} -> {again!r}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
