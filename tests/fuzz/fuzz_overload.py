"""
Fuzz target: the option-overload walk (options → file → sname).

The input fills the options, file and sname fields of a packet whose header
and magic cookie are valid and whose options start with option 52, so the
fuzzer spends its time in the walk rather than on the header checks.
"""

import sys

import atheris

with atheris.instrument_imports():
    from dhcpsuite.dhcp4.errors import DecodeError
    from dhcpsuite.dhcp4.packet import decode_message

HEADER = bytes([1, 1, 6, 0]) + bytes(40)  # op, htype, hlen, hops, xid..giaddr, chaddr start


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    overload = provider.ConsumeIntInRange(0, 4)
    sname = provider.ConsumeBytes(64).ljust(64, b"\0")
    file = provider.ConsumeBytes(128).ljust(128, b"\0")
    options = provider.ConsumeBytes(provider.remaining_bytes())
    packet = HEADER[:28] + bytes(16) + sname + file + b"\x63\x82\x53\x63" + bytes([52, 1, overload, 53, 1, 1]) + options
    try:
        message = decode_message(packet)
    except DecodeError:
        return
    if 52 in message.options:
        raise AssertionError("option 52 leaked into the decoded options")
    again = decode_message(message.to_bytes())
    if again != message:
        raise AssertionError(f"round trip changed the message: {message!r} -> {again!r}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
