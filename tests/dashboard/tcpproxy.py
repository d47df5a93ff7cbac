"""A tiny forwarder (TCP or unix socket) that a test can cut: a real outage in front of a real server."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit


class TcpProxy:
    def __init__(self, upstream: tuple[str, int] | str, listen_unix: str | None = None):
        self.upstream = upstream
        if listen_unix:
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(listen_unix)
            self.listener.listen()
            self.port = 0
        else:
            self.listener = socket.create_server(("127.0.0.1", 0))
            self.port = self.listener.getsockname()[1]
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                if isinstance(self.upstream, str):
                    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    upstream.connect(self.upstream)
                else:
                    upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        # shutdown() wakes the thread blocked in accept(); close() alone would not.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self._lock:
            for s in self._socks:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    @classmethod
    def for_url(cls, url: str) -> tuple[TcpProxy, str]:
        """A proxy in front of the server in `url`, and the same url pointing at the proxy."""
        parts = urlsplit(url)
        proxy = cls((parts.hostname or "127.0.0.1", parts.port or 0))
        netloc = parts.netloc.rsplit(":", 1)[0] + f":{proxy.port}"
        return proxy, urlunsplit(parts._replace(netloc=netloc))

    @classmethod
    def for_pg_socket_url(cls, url: str, sock_dir: Path) -> tuple[TcpProxy, str]:
        """Embedded Postgres listens on a unix socket (?host=DIR): proxy DIR/.s.PGSQL.PORT."""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        upstream_dir = query["host"][0]
        port = int(query.get("port", ["5432"])[0])
        sock_dir.mkdir(parents=True, exist_ok=True)
        name = f".s.PGSQL.{port}"
        proxy = cls(str(Path(upstream_dir) / name), listen_unix=str(sock_dir / name))
        extra = "".join(
            f"&{k}={v[0]}" for k, v in query.items() if k not in ("host", "port")
        )  # passfile
        return proxy, urlunsplit(parts._replace(query=f"host={sock_dir}&port={port}{extra}"))
