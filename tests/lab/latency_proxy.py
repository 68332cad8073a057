"""A TCP proxy that adds latency each way and counts HTTP requests: a slow S3 on loopback.

This kernel has no netem, so latency comes from here: every chunk read from one side is
forwarded to the other ``delay`` seconds later, order kept per direction (one queue and one
writer per direction, like a long link). The client-to-server stream is scanned for HTTP/1.1
request lines, so a benchmark can count the requests a tool sends per object (PUT, HEAD, GET
and LIST alike; UPLOADS for a listing of unfinished multipart uploads), which is what an object
store bills and throttles.

Runs in a thread of the calling process: ``with LatencyProxy(target_port, delay=0.01) as p``.
"""
from __future__ import annotations

import asyncio
import collections
import re
import threading
import time

from tests.lab.loop_server import LoopServer

_REQUEST = re.compile(rb"(GET|PUT|HEAD|POST|DELETE) (/[^ \r\n]*) HTTP/1\.[01]\r\n")


class LatencyProxy(LoopServer):
    NAME = "latency-proxy"

    def __init__(self, target_port, delay=0.01, target_host="127.0.0.1", listen_host="127.0.0.1",
                 keep_lines=False):
        super().__init__(listen_host)
        # keep_lines: also keep each request line ("GET /bucket?prefix=... HTTP/1.1"), to say
        # which requests were counted (a failure message, which directories were listed)
        self.lines = [] if keep_lines else None
        self.target = (target_host, int(target_port))
        self.delay = float(delay)
        self.requests = collections.Counter()  # "PUT", "HEAD", "GET", "LIST", ...
        self._lock = threading.Lock()

    # --- control ------------------------------------------------------------------------------
    def reset_counts(self):
        with self._lock:
            self.requests.clear()

    def counts(self):
        with self._lock:
            return dict(self.requests)

    # --- the proxy ----------------------------------------------------------------------------
    def _count(self, data):
        for match in _REQUEST.finditer(data):
            if self.lines is not None:
                self.lines.append(match.group(0).strip().decode("utf-8", "replace"))
            method, path = match.group(1).decode(), match.group(2)
            if method == "GET" and b"?" in path and re.search(rb"[?&]uploads(=|&|$)", path):
                method = "UPLOADS"  # ListMultipartUploads: the end of a run's leftover check
            elif method == "GET" and (b"list-type=" in path or b"?delimiter" in path
                                    or b"&delimiter" in path or path.rstrip(b"/").count(b"/") <= 1
                                    and b"?" in path):
                method = "LIST"
            with self._lock:
                self.requests[method] += 1

    async def _handle(self, client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            self._pipe(client_reader, server_writer, count=True),
            self._pipe(server_reader, client_writer, count=False),
            return_exceptions=True)

    async def _pipe(self, reader, writer, count):
        queue = asyncio.Queue()

        async def deliver():
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    break
                writer.write(data)
                await writer.drain()
            writer.close()
        # (a cancelled deliver() just ends: the connection is being torn down)

        sender = asyncio.ensure_future(deliver())
        tail = b""
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if count:
                    scan = tail + data
                    self._count(scan)
                    # keep a partial request line for the next chunk (never count one twice)
                    cut = scan.rfind(b"\r\n")
                    tail = scan[cut + 2:][-512:] if cut >= 0 else scan[-512:]
                await queue.put((time.monotonic() + self.delay, data))
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            sender.cancel()
            raise
        queue.put_nowait((time.monotonic() + self.delay, None))
        try:
            await sender
        except (ConnectionError, OSError):
            pass
