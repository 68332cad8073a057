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
import socket
import threading
import time

_REQUEST = re.compile(rb"(GET|PUT|HEAD|POST|DELETE) (/[^ \r\n]*) HTTP/1\.[01]\r\n")


class LatencyProxy:
    def __init__(self, target_port, delay=0.01, target_host="127.0.0.1", listen_host="127.0.0.1"):
        self.target = (target_host, int(target_port))
        self.listen_host = listen_host
        self.delay = float(delay)
        self.port = None
        self.requests = collections.Counter()  # "PUT", "HEAD", "GET", "LIST", ...
        self._lock = threading.Lock()
        self._loop = None
        self._thread = None
        self._server = None
        self._ready = threading.Event()

    # --- control ------------------------------------------------------------------------------
    def start(self):
        with socket.socket() as s:
            s.bind((self.listen_host, 0))
            self.port = s.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name="latency-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("latency proxy did not start")
        return self

    def stop(self):
        if self._loop is not None and self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._thread.join(10)

    async def _shutdown(self):
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop.call_soon(self._loop.stop)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def reset_counts(self):
        with self._lock:
            self.requests.clear()

    def counts(self):
        with self._lock:
            return dict(self.requests)

    # --- the proxy ----------------------------------------------------------------------------
    def _run(self):
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, self.listen_host, self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    def _count(self, data):
        for match in _REQUEST.finditer(data):
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
