"""Faults at the client: a proxy in front of moto server that fails a share of one caller's calls.

For testing the executor as AWS and the network treat it: a request signed with one of the given
access keys fails, with the given probability, in one of three ways, taken in turn:

* ``throttled``: the service's own throttling answer (S3's 503 SlowDown, Batch's 429
  TooManyRequestsException, a JSON service's ThrottlingException, a query service's Throttling);
* ``server_error``: a 502 with no body, as a load balancer in front of a service answers;
* ``lost``: the request reaches moto and takes effect, and the connection is then closed before
  the response (the caller cannot tell whether it took effect).

Every other request is passed through unchanged (headers included, so signatures still hold).
"""

from __future__ import annotations

import http.client
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KINDS = ("throttled", "server_error", "lost")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}
_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d+/[^/]+/([^/]+)/")


def throttling(service: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
    """The answer each protocol gives when the caller is throttled (status, headers, body)."""
    if service == "s3":
        body = b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
        return 503, {"Content-Type": "application/xml"}, body
    if headers.get("X-Amz-Target"):  # the JSON protocol (Step Functions, ECR, Logs, ...)
        body = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
        return 400, {"Content-Type": "application/x-amz-json-1.0"}, body
    if service == "batch":  # REST-JSON
        body = b'{"__type":"TooManyRequestsException","message":"Too Many Requests"}'
        kind = {"x-amzn-ErrorType": "TooManyRequestsException"}
        return 429, {"Content-Type": "application/json", **kind}, body
    body = (  # the query protocol (STS, IAM)
        b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
        b"<Message>Rate exceeded</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
    )
    return 400, {"Content-Type": "text/xml"}, body


class FaultProxy:
    """Forwards to 127.0.0.1:target_port; fails ``rate`` of the calls signed with access_keys."""

    def __init__(self, target_port: int, rate: float, access_keys: set[str]) -> None:
        self.target_port = target_port
        self.rate = rate
        self.access_keys = access_keys
        self.counts: Counter[str] = Counter()
        self._period = max(1, round(1 / rate)) if rate > 0 else 0
        self._lock = threading.Lock()
        self._turn = 0
        self._server: ThreadingHTTPServer | None = None

    def _fault(self, headers: Any) -> tuple[str | None, str]:
        found = _SCOPE.search(headers.get("Authorization") or "")
        key, service = (found.group(1), found.group(2)) if found else ("", "")
        with self._lock:
            self.counts["requests"] += 1
            if key not in self.access_keys:
                return None, service
            self.counts["signed"] += 1
            if not self._period:
                return None, service
            # Every 1/rate-th call of the given keys, from the first, the kinds in turn: a run
            # of 21 such calls or more has met each kind, whatever the timing of the others.
            if (self.counts["signed"] - 1) % self._period:
                return None, service
            kind = KINDS[self._turn % len(KINDS)]
            self._turn += 1
            self.counts[kind] += 1
            return kind, service

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet: the counts tell
                pass

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                """The request's body, of a Content-Length or sent in chunks (S3 uploads)."""
                if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
                    length = int(self.headers.get("Content-Length") or 0)
                    return self.rfile.read(length) if length else b""
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()

            def _handle(self) -> None:
                body = self._body()
                fault, service = proxy._fault(self.headers)
                if fault == "throttled":
                    return self._answer(*throttling(service, self.headers))
                if fault == "server_error":
                    return self._answer(502, {"Content-Type": "text/plain"}, b"")
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.target_port, timeout=120)
                try:
                    sent = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() not in ("transfer-encoding", "content-length")
                    }
                    sent["Content-Length"] = str(len(body))
                    upstream.request(self.command, self.path, body, sent)
                    response = upstream.getresponse()
                    payload = response.read()
                finally:
                    upstream.close()
                if fault == "lost":
                    self.close_connection = True  # it took effect; the caller never hears
                    return None
                answer = {
                    k: v
                    for k, v in response.getheaders()
                    if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"
                }
                if self.command == "HEAD":  # no body, and the object's own length
                    length = response.getheader("Content-Length") or "0"
                    self.send_response(response.status)
                    for name, value in {**answer, "Content-Length": length}.items():
                        self.send_header(name, value)
                    self.end_headers()
                    return None
                return self._answer(response.status, answer, payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle

        return Handler

    def start(self) -> int:
        """Serve on a free loopback port; return it."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
