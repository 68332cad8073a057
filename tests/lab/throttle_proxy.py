"""An HTTP-aware proxy in front of an S3 server that throttles like a busy object store.

A share of the requests is answered by the proxy itself with ``503 SlowDown`` (the S3 XML
error body) or ``429 Too Many Requests`` and never reaches the store; the others are
forwarded. Every request is counted with its arrival time, throttled or not (the store counts
them too), so a test can say how many requests a client sent in any one-second window.

It reads each request's head and body (Content-Length or chunked) on the client side and
forwards bytes as they are; responses are relayed as a raw byte stream. That is enough for
HTTP/1.1 clients that do not pipeline (Go's, rclone's): a new request head only arrives
once the previous response has passed through, so an injected answer never interleaves with
the store's. A throttled request that asked ``Expect: 100-continue`` is answered at once and
its connection closed (its body was never sent).

Runs in a thread of the calling process:
``with ThrottleProxy(target_port, share=0.25) as p: ... p.max_in_window(1.0)``.
"""
from __future__ import annotations

import asyncio
import bisect
import random
import threading
import time

from tests.lab.loop_server import LoopServer

SLOWDOWN_BODY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                 b'<Message>Please reduce your request rate.</Message>'
                 b'<RequestId>throttle-proxy</RequestId></Error>')
TOO_MANY_BODY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>TooManyRequests</Code>'
                 b'<Message>Too many requests.</Message>'
                 b'<RequestId>throttle-proxy</RequestId></Error>')
REASONS = {503: (b"Slow Down", SLOWDOWN_BODY), 429: (b"Too Many Requests", TOO_MANY_BODY)}


class ThrottleProxy(LoopServer):
    NAME = "throttle-proxy"

    def __init__(self, target_port, share=0.25, statuses=(503,), seed=1,
                 target_host="127.0.0.1", listen_host="127.0.0.1"):
        super().__init__(listen_host)
        self.target = (target_host, int(target_port))
        self.share = float(share)
        self.statuses = tuple(statuses)
        self._rng = random.Random(seed)
        self.log = []  # (monotonic time, method, path, status or None when forwarded)
        self._lock = threading.Lock()

    @property
    def endpoint(self):
        return "http://%s:%d" % (self.listen_host, self.port)

    # --- control ------------------------------------------------------------------------------
    def set_share(self, share):
        with self._lock:
            self.share = float(share)

    # --- what was seen ------------------------------------------------------------------------
    def requests(self):
        with self._lock:
            return list(self.log)

    def counts(self):
        """{'total', 'throttled', 'forwarded', 503: n, 429: n}."""
        log = self.requests()
        out = {"total": len(log), "throttled": sum(1 for r in log if r[3]),
               "forwarded": sum(1 for r in log if not r[3])}
        for status in REASONS:
            out[status] = sum(1 for r in log if r[3] == status)
        return out

    def max_in_window(self, window=1.0):
        """Most requests that arrived within any ``window`` seconds, and when (seconds after
        the first request)."""
        times = sorted(r[0] for r in self.requests())
        best, at = 0, 0.0
        for i, t in enumerate(times):
            n = bisect.bisect_left(times, t + window) - i
            if n > best:
                best, at = n, t - times[0]
        return best, at

    # --- the proxy ----------------------------------------------------------------------------
    def _decide(self):
        with self._lock:
            if self.share > 0 and self._rng.random() < self.share:
                return self.statuses[self._rng.randrange(len(self.statuses))]
        return None

    async def _handle(self, client_reader, client_writer):
        try:
            await self._serve(client_reader, client_writer)
        except asyncio.CancelledError:
            pass  # the proxy is stopping

    async def _serve(self, client_reader, client_writer):
        upstream = None  # (reader, writer, relay task)
        try:
            while True:
                try:
                    head = await client_reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    break
                method, path, headers = _parse_head(head)
                status = self._decide()
                with self._lock:
                    self.log.append((time.monotonic(), method, path, status))
                if status is not None:
                    expect = headers.get("expect", "").lower() == "100-continue"
                    if not expect:
                        await _copy_body(client_reader, None, headers)
                    client_writer.write(_error_response(status, method, close=expect))
                    await client_writer.drain()
                    if expect:
                        break
                    continue
                if upstream is None or upstream[2].done():
                    reader, writer = await asyncio.open_connection(*self.target)
                    relay = asyncio.ensure_future(_relay(reader, client_writer))
                    upstream = (reader, writer, relay)
                upstream[1].write(head)
                await _copy_body(client_reader, upstream[1], headers)
                await upstream[1].drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if upstream is not None:
                upstream[1].close()
                upstream[2].cancel()
            client_writer.close()


def _parse_head(head):
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    method = parts[0].decode("latin-1")
    path = parts[1].decode("latin-1") if len(parts) > 1 else ""
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return method, path, headers


async def _copy_body(reader, writer, headers):
    """Read a request's body (Content-Length or chunked), writing it on when ``writer``."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";")[0].strip() or b"0", 16)
            data = await reader.readexactly(size + 2)
            if writer is not None:
                writer.write(line + data)
            if size == 0:
                if data != b"\r\n":  # trailers: until the empty line
                    rest = await reader.readuntil(b"\r\n\r\n")
                    if writer is not None:
                        writer.write(rest)
                return
    left = int(headers.get("content-length", "0") or 0)
    while left > 0:
        data = await reader.read(min(left, 1 << 16))
        if not data:
            raise ConnectionError("client closed mid-body")
        left -= len(data)
        if writer is not None:
            writer.write(data)
            await writer.drain()


async def _relay(reader, writer):
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    writer.close()


def _error_response(status, method, close=False):
    reason, body = REASONS[status]
    head = [b"HTTP/1.1 %d %s" % (status, reason), b"Content-Type: application/xml",
            b"Content-Length: %d" % len(body), b"x-amz-request-id: throttle-proxy"]
    if close:
        head.append(b"Connection: close")
    out = b"\r\n".join(head) + b"\r\n\r\n"
    return out if method == "HEAD" else out + body
