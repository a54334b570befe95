"""
Log observers for C{twistd --logger=...}.

Text is twistd's default; for JSON lines (one event per line, every
structured field kept: C{mac}, C{address}, C{event}, C{xid} ...):

    twistd -n --logger=dhcpsuite.logs.json_stdout dhcpsuite --config FILE
    DHCPSUITE_LOG_FILE=/var/log/dhcpsuite.jsonl twistd -n --logger=dhcpsuite.logs.json_file dhcpsuite ...
"""

from __future__ import annotations

import os
import sys

from twisted.logger import ILogObserver, jsonFileLogObserver

LOG_FILE_VARIABLE = "DHCPSUITE_LOG_FILE"


def json_stdout() -> ILogObserver:
    return jsonFileLogObserver(sys.stdout, recordSeparator="")


def json_file() -> ILogObserver:
    path = os.environ.get(LOG_FILE_VARIABLE, "/var/log/dhcpsuite/dhcpsuite.jsonl")
    return jsonFileLogObserver(open(path, "a", encoding="utf-8"), recordSeparator="")
