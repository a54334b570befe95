"""
Errors shared across components.
"""


class StartupError(Exception):
    """
    A component cannot start for a reason the operator must fix (an
    interface without an address, a port in use, a damaged lease database).
    The daemon reports it in one line and exits non-zero, without a traceback.
    """
