"""
The control API's admission from the request head alone: Host (DNS
rebinding), Origin and Sec-Fetch-Site (CSRF), token, body size and type.
"""

from __future__ import annotations

import base64

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http_headers import Headers

from dhcpsuite.control.admission import BASIC_CHALLENGE, BEARER_CHALLENGE, AdmissionPolicy, Refusal, admit, host_allowed

TOKEN = "0123456789abcdef0123"


def refusal(method: bytes, headers: dict[str, str | list[str]], length: int | None = 0, policy: AdmissionPolicy | None = None):
    raw = Headers()
    for name, value in headers.items():
        raw.setRawHeaders(name, [value] if isinstance(value, str) else value)
    return admit(method, raw, length, policy or AdmissionPolicy())


def reason(method: bytes, headers: dict[str, str | list[str]], length: int | None = 0, policy: AdmissionPolicy | None = None):
    refused = refusal(method, headers, length, policy)
    return None if refused is None else refused.reason


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class HostTests(SynchronousTestCase):
    def test_loopback_names_and_address_literals(self) -> None:
        for host in ("127.0.0.1:8067", "127.0.0.1", "localhost:8067", "LOCALHOST", "[::1]:8067", "[::1]",
                     "dash.localhost:8067", "192.0.2.1:8067", "localhost."):
            self.assertTrue(host_allowed(host), host)

    def test_other_names_refused_unless_configured(self) -> None:
        for host in ("evil.example", "evil.example:8067", "127.0.0.1.nip.io:8067", "localhost.evil.example",
                     "[::1]x", "127.0.0.1:80a", ""):
            self.assertFalse(host_allowed(host), host)
        self.assertTrue(host_allowed("router.lan:8067", {"router.lan"}))
        self.assertEqual(reason(b"GET", {"Host": "evil.example:8067"}), Refusal.HOST)
        self.assertEqual(reason(b"GET", {"Host": ["localhost", "evil.example"]}), Refusal.HOST)
        self.assertIsNone(reason(b"GET", {"Host": "router.lan"}, policy=AdmissionPolicy(allowed_hosts=frozenset({"router.lan"}))))
        self.assertIsNone(reason(b"GET", {}))

    def test_unix_socket_clients_send_any_host(self) -> None:
        unix = AdmissionPolicy(browser_reachable=False)
        self.assertIsNone(reason(b"GET", {"Host": "x"}, policy=unix))
        self.assertIsNone(reason(b"POST", {"Host": "x", "Origin": "http://y"}, policy=unix))
        self.assertEqual(reason(b"POST", {"Host": "x"}, length=2, policy=unix), Refusal.CONTENT_TYPE)


class OriginTests(SynchronousTestCase):
    def test_cross_origin_state_change_refused(self) -> None:
        host = {"Host": "127.0.0.1:8067"}
        for origin in ("http://evil.example", "http://127.0.0.1:9999", "null", "https://127.0.0.1:8067"):
            self.assertEqual(reason(b"POST", {**host, "Origin": origin}), Refusal.ORIGIN, origin)
            self.assertEqual(reason(b"DELETE", {**host, "Origin": origin}), Refusal.ORIGIN, origin)
        self.assertEqual(reason(b"POST", {**host, "Sec-Fetch-Site": "cross-site"}), Refusal.ORIGIN)
        self.assertEqual(reason(b"POST", {**host, "Sec-Fetch-Site": "same-site"}), Refusal.ORIGIN)

    def test_same_origin_and_non_browser_clients_pass(self) -> None:
        self.assertIsNone(reason(b"POST", {"Host": "127.0.0.1:8067", "Origin": "http://127.0.0.1:8067", "Sec-Fetch-Site": "same-origin"}))
        self.assertIsNone(reason(b"POST", {"Host": "localhost", "Origin": "http://localhost:80"}))
        self.assertIsNone(reason(b"DELETE", {"Host": "127.0.0.1:8067"}))
        # Reading is not changing: a cross-site link to the status page works.
        self.assertIsNone(reason(b"GET", {"Host": "127.0.0.1:8067", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}))


class BodyTests(SynchronousTestCase):
    def test_body_must_be_json(self) -> None:
        for content_type in (None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            headers = {} if content_type is None else {"Content-Type": content_type}
            self.assertEqual(reason(b"POST", headers, length=10), Refusal.CONTENT_TYPE, content_type)
        self.assertIsNone(reason(b"POST", {"Content-Type": "application/json; charset=utf-8"}, length=10))
        self.assertIsNone(reason(b"POST", {}, length=0))

    def test_size_and_chunked(self) -> None:
        json_type = {"Content-Type": "application/json"}
        self.assertEqual(reason(b"POST", json_type, length=256 << 20), Refusal.TOO_LARGE)
        self.assertEqual(reason(b"POST", json_type, length=None), Refusal.LENGTH_REQUIRED)
        self.assertIsNone(reason(b"POST", json_type, length=64 * 1024))

    def test_token_decides_before_size(self) -> None:
        policy = AdmissionPolicy(token=TOKEN)
        json_type = {"Content-Type": "application/json"}
        self.assertEqual(reason(b"POST", {**json_type, "Authorization": "Bearer wrong"}, 256 << 20, policy), Refusal.TOKEN)
        self.assertEqual(reason(b"POST", {**json_type, "Authorization": f"Bearer {TOKEN}"}, 256 << 20, policy), Refusal.TOO_LARGE)
        self.assertIsNone(reason(b"GET", {"Authorization": f"bearer {TOKEN}"}, 0, policy))
        self.assertEqual(reason(b"GET", {"Authorization": f"Basic {TOKEN}"}, 0, policy), Refusal.TOKEN)


class BrowserTests(SynchronousTestCase):
    """
    A browser cannot send a bearer token but answers a Basic challenge
    with a prompt: reads take Basic with the token as the password (any
    user name), changes never do (a browser attaches cached Basic
    credentials to other sites' requests too).
    """

    policy = AdmissionPolicy(token=TOKEN)

    def test_reads_take_basic_with_any_user(self) -> None:
        for method in (b"GET", b"HEAD"):
            for user in ("admin", "", "anyone at all"):
                self.assertIsNone(reason(method, {"Authorization": basic(user, TOKEN)}, 0, self.policy), (method, user))
            self.assertIsNone(reason(method, {"Authorization": f"Bearer {TOKEN}"}, 0, self.policy))

    def test_wrong_or_malformed_basic_is_refused(self) -> None:
        for header in (basic("admin", "wrong-password-000000"), basic("admin", TOKEN + "x"), basic(TOKEN, ""),
                       "Basic " + base64.b64encode(TOKEN.encode()).decode(), "Basic !!!not-base64!!!", "Basic",
                       f"Digest {TOKEN}", [basic("a", TOKEN), basic("a", TOKEN)]):
            self.assertEqual(reason(b"GET", {"Authorization": header}, 0, self.policy), Refusal.TOKEN, header)

    def test_a_refused_read_asks_for_basic(self) -> None:
        refused = refusal(b"GET", {}, 0, self.policy)
        self.assertEqual((refused.status, refused.challenges), (401, (BASIC_CHALLENGE, BEARER_CHALLENGE)))
        self.assertTrue(BASIC_CHALLENGE.startswith(b'Basic realm="dhcpsuite"'))

    def test_changes_refuse_basic_and_ask_only_for_bearer(self) -> None:
        json_type = {"Content-Type": "application/json", "Host": "127.0.0.1:8067"}
        for method in (b"POST", b"DELETE", b"PUT", b"OPTIONS"):
            refused = refusal(method, {**json_type, "Authorization": basic("admin", TOKEN)}, 2, self.policy)
            self.assertEqual((refused.reason, refused.status, refused.challenges), (Refusal.TOKEN, 401, (BEARER_CHALLENGE,)), method)
        refused = refusal(b"POST", {**json_type, "Authorization": basic("admin", TOKEN)}, 2, self.policy)
        self.assertIn("Bearer", refused.message)
        self.assertIsNone(reason(b"POST", {**json_type, "Authorization": f"Bearer {TOKEN}"}, 2, self.policy))
