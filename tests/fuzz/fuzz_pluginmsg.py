"""
Fuzz target: PLUGIN_MSG decode (the lease-ingest wire records). Any bytes
either decode to a v4/v6 record or raise PluginMessageError; nothing
else. Half the inputs are forced to a known message size so the fuzzer
reaches the field decoders, not just the size check.
"""

import sys

import atheris

with atheris.instrument_imports():
    from dhcpsuite.ingest.layout import BY_SIZE
    from dhcpsuite.ingest.pluginmsg import PluginMessageError, decode

SIZES = sorted(BY_SIZE)


def test_one_input(data: bytes) -> None:
    if len(data) not in BY_SIZE and data and data[0] & 1:
        size = SIZES[data[0] % len(SIZES)]
        data = data[1:].ljust(size, b"\0")[:size]
    try:
        decode(data)
    except PluginMessageError:
        return


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
