"""
The codec's one error type.
"""


class DecodeError(ValueError):
    """
    Bytes that are not a well-formed DHCPv4 message (or option).

    @ivar reason: a short, stable tag for counting drops
        (C{"truncated"}, C{"option-overrun"}, ...).
    @ivar detail: a human-readable explanation.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason
