#!/usr/bin/env bash
# Installs what dhcpsuite, its tests and its benchmarks need on a Debian machine:
# the real DHCP peers from Debian (without letting any of them start on the host),
# then a virtualenv in .venv with dhcpsuite installed editable plus the test extras.
# Idempotent and quick when everything is already there. Needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(dnsmasq udhcpc isc-dhcp-client kea-admin nanomsg-utils nng-utils dibbler-client
                 kea-dhcp4-server isc-dhcp-server udhcpd dhcpcd-base
                 tcpdump ethtool iproute2 procps python3-venv python3-pip chromium prometheus postgresql)
NEEDED_PROGRAMS=(dnsmasq udhcpc dhclient perfdhcp nanocat nngcat dibbler-client kea-dhcp4 dhcpd udhcpd dhcpcd
                 tcpdump ethtool ip chromium promtool pg_ctlcluster)

missing=()
for p in "${NEEDED_PROGRAMS[@]}"; do
    command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] || [ -x "/sbin/$p" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing ${missing[*]}; run as root to install Debian packages (tests needing them will skip)" >&2
    else
        echo "setup: installing Debian packages (${missing[*]} missing)"
        # None of the DHCP servers may start on the host: policy-rc.d 101 forbids it
        # during the install; it is removed again if we put it there.
        created_policy=0
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
            chmod +x /usr/sbin/policy-rc.d
            created_policy=1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${DEBIAN_PACKAGES[@]}" >/dev/null
        if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
            systemctl disable --now dnsmasq isc-dhcp-server kea-dhcp4-server kea-ctrl-agent udhcpd dhcpcd \
                dibbler-client postgresql >/dev/null 2>&1 || true
        fi
        [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.dhcpsuite-installed
if [ ! -f "$stamp" ] || [ setup.py -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e '.[test]' --config-settings editable_mode=compat
    touch "$stamp"
fi
# Byte-compile our modules as an installed package is: with
# PYTHONDONTWRITEBYTECODE set, every start would compile them from source
# (~60 ms of a cold client start here). Stale files are recompiled by mtime.
.venv/bin/python -m compileall -q dhcpsuite twisted/plugins >/dev/null
