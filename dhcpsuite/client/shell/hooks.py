# -*- test-case-name: tests.unit.test_client_hooks -*-
"""
Event hooks: one program per interface, run for BOUND, EXTEND, EXPIRE, DROP,
RELEASE, NAK (and LEASEFAIL, INFORM), with the environment busybox udhcpc
gives its script, so existing udhcpc scripts work unchanged.

C{argv[1]} is udhcpc's action for the event (L{UDHCPC_ACTIONS}); the event
itself is in C{$reason} (and C{$DHCPSUITE_EVENT}). Hooks run one at a time
per interface, in order, asynchronously; a hook that outlives its time gets
SIGTERM at 55 s and SIGKILL at 58 s (the Solaris dhcpagent's limits).
"""

from __future__ import annotations

from collections import Counter, deque
from ipaddress import IPv4Address, IPv4Network
from typing import Any, Callable

from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IDelayedCall, IProcessTransport
from twisted.logger import Logger
from twisted.python.failure import Failure

from dhcpsuite.client.core.dnsnames import BAD, decode_name_list, printable, valid_name, valid_path
from dhcpsuite.client.core.lease import Lease
from dhcpsuite.client.core.machine import Event
from dhcpsuite.dhcp4.constants import Option
from dhcpsuite.dhcp4.errors import DecodeError
from dhcpsuite.dhcp4.options import UDHCPC_NAMES, HookFormat, decode_classless_routes
from dhcpsuite.dhcp4.packet import Message

# Our event -> udhcpc's argv[1] values, in the order they are run.
UDHCPC_ACTIONS: dict[Event, tuple[str, ...]] = {
    Event.BOUND: ("bound",),
    Event.EXTEND: ("renew",),
    Event.EXPIRE: ("deconfig",),
    Event.DROP: ("deconfig",),
    Event.RELEASE: ("deconfig",),
    Event.NAK: ("nak",),
    Event.LEASEFAIL: ("leasefail",),
    Event.INFORM: ("bound",),
}
# A NAK that takes a configured lease away: udhcpc runs "nak" then "deconfig".
NAK_WITH_LEASE = ("nak", "deconfig")

TERM_AFTER = 55.0
KILL_AFTER = 58.0

# What each kind of checked value must be; a value that is not is replaced
# by udhcpc's "bad".
_VALID = {HookFormat.NAME: valid_name, HookFormat.PATH: valid_path}
_CHECKED = frozenset({HookFormat.TEXT, HookFormat.NAME, HookFormat.PATH, HookFormat.NAMES})
# Options udhcpc never exports (protocol machinery); it does export opt53.
_SKIP = frozenset(int(o) for o in (Option.PARAMETER_REQUEST_LIST, Option.MAX_MESSAGE_SIZE, Option.OVERLOAD,
                                   Option.PAD, Option.END))


def _text(raw: bytes) -> str:
    # Trailing NULs are C string padding some servers send; anything else
    # that is not printable is replaced (or makes a checked value invalid).
    return raw.decode("utf-8", "replace").rstrip("\0")


def checked_value(kind: HookFormat, raw: bytes) -> tuple[str, bool]:
    """
    A name, path or text value for a hook.

    @return: the value (C{bad} for a name or path that is not one) and
        whether it was replaced.
    """
    text = _text(raw)
    if kind is HookFormat.TEXT:
        return printable(text), False
    if kind is HookFormat.NAMES:
        try:
            names = decode_name_list(raw)
        except ValueError:
            return BAD, True
        if names and all(valid_name(name) for name in names):
            return " ".join(names), False
        return BAD, True
    if _VALID[kind](text):
        return text, False
    return BAD, True


def _value(code: int, raw: bytes, kind: HookFormat) -> str:
    if kind is HookFormat.IPS:
        return " ".join(str(IPv4Address(raw[i:i + 4])) for i in range(0, len(raw) - len(raw) % 4, 4))
    if kind is HookFormat.NUMBER:
        value = int.from_bytes(raw, "big", signed=(code == Option.TIME_OFFSET))
        return str(value)
    routes = decode_classless_routes(raw)
    return " ".join(f"{r.destination} {r.gateway}" for r in routes)


def hook_environment(
    ifname: str,
    event: Event,
    lease: Lease | None = None,
    reply: Message | None = None,
    rejected: list[str] | None = None,
) -> dict[str, str]:
    """
    The environment of a hook run: udhcpc's variables for the ACK (or the
    NAK / INFORM reply), plus C{reason} / C{DHCPSUITE_EVENT}.

    Name-like values (host name, domain, search list, NIS domain, TFTP
    server name, C{sname}) must be domain names and paths (root path, boot
    file) paths, else they are C{bad}, as udhcpc gives them; free text has
    its control bytes replaced.

    @param rejected: when given, the names of the variables replaced by
        C{bad} are appended to it (the caller logs them).
    """
    env = {"interface": ifname, "reason": event, "DHCPSUITE_EVENT": event}
    message = lease.reply if lease is not None else reply
    if message is None:
        return env
    if message.yiaddr != IPv4Address(0):
        env["ip"] = str(message.yiaddr)
    if message.siaddr != IPv4Address(0):
        env["siaddr"] = str(message.siaddr)
    checked: list[tuple[str, HookFormat, bytes]] = [
        ("sname", HookFormat.NAME, message.sname), ("boot_file", HookFormat.PATH, message.file),
    ]
    for code, raw in message.options.items():
        if code in _SKIP:
            continue
        exported = UDHCPC_NAMES.get(code)
        if exported is None:
            env[f"opt{code}"] = raw.hex()
            continue
        name, kind = exported
        if kind in _CHECKED:
            checked.append((name, kind, raw))
            continue
        try:
            env[name] = _value(code, raw, kind)
        except (DecodeError, ValueError):
            env[f"opt{code}"] = raw.hex()
    for name, kind, raw in checked:
        if not raw.rstrip(b"\0"):
            continue
        env[name], replaced = checked_value(kind, raw)
        if replaced and rejected is not None:
            rejected.append(name)
    if "subnet" in env:
        try:
            env["mask"] = str(IPv4Network(f"0.0.0.0/{env['subnet']}").prefixlen)
        except ValueError:
            pass
    if lease is not None and lease.lease_time is None:
        env["lease"] = str(0xFFFFFFFF)
    return env


def udhcpc_actions(event: Event, lease_removed: bool = False) -> tuple[str, ...]:
    if event is Event.NAK and lease_removed:
        return NAK_WITH_LEASE
    return UDHCPC_ACTIONS[event]


class _HookProcess(protocol.ProcessProtocol):
    log = Logger()

    def __init__(self, name: str, done: defer.Deferred) -> None:
        self.name = name
        self.done = done
        self._buffer = b""

    def outReceived(self, data: bytes) -> None:
        self._buffer = (self._buffer + data)[-4096:]

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        code = None
        if isinstance(reason.value, error.ProcessTerminated):
            code = reason.value.exitCode if reason.value.exitCode is not None else -(reason.value.signal or 0)
        elif isinstance(reason.value, error.ProcessDone):
            code = 0
        output = self._buffer.decode("utf-8", "replace").strip()
        if output:
            self.log.info("hook {name}: {output}", name=self.name, output=output)
        self.done.callback(code)


class HookRunner:
    """
    Runs one interface's hook program, one run at a time, in order.

    @param spawn: C{reactor.spawnProcess} (a fake in tests).
    @ivar runs: every run as C{(argv, env, exit code)}, most recent last
        (bounded), for the control API and tests.
    """

    log = Logger()

    def __init__(
        self,
        program: str,
        reactor: Any,
        spawn: Callable[..., Any] | None = None,
        term_after: float = TERM_AFTER,
        kill_after: float = KILL_AFTER,
        base_environment: dict[str, str] | None = None,
    ) -> None:
        self.program = program
        self.reactor = reactor
        self._spawn = spawn if spawn is not None else reactor.spawnProcess
        self.term_after = term_after
        self.kill_after = kill_after
        self.base_environment = dict(base_environment or {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        self._queue: deque = deque()
        self._running: tuple[IProcessTransport, IDelayedCall, IDelayedCall] | None = None
        self._idle_waiters: list[defer.Deferred] = []
        self.runs: deque = deque(maxlen=64)
        # Runs by result, for metrics: ok, failed (non-zero), killed (by a
        # signal, e.g. the 55/58 s limits), not-started.
        self.results: Counter = Counter()

    def run(self, action: str, env: dict[str, str]) -> defer.Deferred:
        """
        Queue one run: C{program action} with C{env}.

        @return: a L{Deferred} firing with the exit code (negative signal
            number when killed), never failing.
        """
        d: defer.Deferred = defer.Deferred()
        self._queue.append((action, env, d))
        if self._running is None:
            self._next()
        return d

    @property
    def busy(self) -> bool:
        return self._running is not None or bool(self._queue)

    def wait_idle(self) -> defer.Deferred:
        """
        @return: a L{Deferred} that fires when every queued run has ended
            (shutdown waits on it).
        """
        if not self.busy:
            return defer.succeed(None)
        d: defer.Deferred = defer.Deferred()
        self._idle_waiters.append(d)
        return d

    def _next(self) -> None:
        if not self._queue:
            self._running = None
            waiters, self._idle_waiters = self._idle_waiters, []
            for d in waiters:
                d.callback(None)
            return
        action, env, result = self._queue.popleft()
        argv = [self.program, action]
        full_env = dict(self.base_environment)
        full_env.update(env)
        # execve cannot pass a NUL; a value that still has one (a caller's
        # own) must not keep the hook from running.
        full_env = {key: value.replace("\0", "?") for key, value in full_env.items()}
        ended: defer.Deferred = defer.Deferred()
        process = _HookProcess(f"{self.program} {action}", ended)
        try:
            transport = self._spawn(process, self.program, argv, env=full_env)
        except Exception as e:
            self.log.error("hook {program} could not start: {error}", program=self.program, error=e)
            self.runs.append((argv, env, None))
            self.results["not-started"] += 1
            result.callback(None)
            self._running = None
            self._next()
            return
        term = self.reactor.callLater(self.term_after, self._signal, transport, "TERM")
        kill = self.reactor.callLater(self.kill_after, self._signal, transport, "KILL")
        self._running = (transport, term, kill)

        def finished(code: int | None) -> None:
            for call in (term, kill):
                if call.active():
                    call.cancel()
            self.runs.append((argv, env, code))
            self.results["ok" if code == 0 else "killed" if code is None or code < 0 else "failed"] += 1
            if code not in (0, None):
                self.log.warn("hook {argv} exited with {code}", argv=" ".join(argv), code=code)
            result.callback(code)
            self._running = None
            self._next()

        ended.addCallback(finished)

    def _signal(self, transport: IProcessTransport, name: str) -> None:
        self.log.warn("hook {program} still running; sending SIG{name}", program=self.program, name=name)
        try:
            transport.signalProcess(name)
        except (error.ProcessExitedAlready, OSError):
            pass
