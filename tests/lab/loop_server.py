"""A TCP server on an asyncio loop of its own, in a thread of the calling process: what the
lab's proxies (latency_proxy, throttle_proxy) share. A subclass sets NAME and implements
``async _handle(reader, writer)``; ``with Proxy(...) as p`` listens on ``p.port``."""
from __future__ import annotations

import asyncio
import socket
import threading


class LoopServer:
    NAME = "loop-server"

    def __init__(self, listen_host="127.0.0.1"):
        self.listen_host = listen_host
        self.port = None
        self._loop = None
        self._thread = None
        self._server = None
        self._ready = threading.Event()

    def start(self):
        with socket.socket() as s:
            s.bind((self.listen_host, 0))
            self.port = s.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name=self.NAME, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("%s did not start" % self.NAME)
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

    async def _handle(self, reader, writer):
        raise NotImplementedError
