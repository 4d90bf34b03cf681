"""A real HTTP server on loopback that records webhook posts: /ok/<name> answers 200, /fail/<name>
answers 500, /hang/<name> accepts and never answers (until the test ends)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


class WebhookServer:
    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        self.released = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.posts.append((self.path, json.loads(body)))
                if self.path.startswith("/hang/"):
                    server.released.wait(30)  # bounded: the test ends it sooner
                    return
                self.send_response(500 if self.path.startswith("/fail/") else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def events(self, path: str) -> list[str]:
        return [body["event"] for where, body in self.posts if where == path]

    def bodies(self, path: str) -> list[dict]:
        return [body for where, body in self.posts if where == path]

    def close(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def serving() -> Iterator[WebhookServer]:
    server = WebhookServer()
    try:
        yield server
    finally:
        server.close()
