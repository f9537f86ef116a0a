"""Real peers for the activities tests: a Radicale CalDAV server (session-wide), and the
tiny misbehaving HTTP servers the CalDAV failure tests talk to."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RadicaleServer:
    url: str
    username: str
    password: str

    def new_calendar(self, name: str = "Work") -> str:
        """A fresh calendar collection (MKCALENDAR); its URL."""
        import caldav

        client = caldav.DAVClient(
            url=f"{self.url}/{self.username}/",
            username=self.username,
            password=self.password,
            enable_rfc6764=False,
        )
        calendar = client.principal().make_calendar(name=name, cal_id=uuid.uuid4().hex[:12])
        return str(calendar.url)


@pytest.fixture(scope="session")
def radicale(tmp_path_factory):
    """A running Radicale on a free local port, plain htpasswd auth (user ``alice``)."""
    folder = tmp_path_factory.mktemp("radicale")
    users = folder / "users"
    users.write_text("alice:wonderland\n")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radicale",
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--storage-filesystem-folder",
            str(folder / "collections"),
            "--auth-type",
            "htpasswd",
            "--auth-htpasswd-filename",
            str(users),
            "--auth-htpasswd-encryption",
            "plain",
            "--logging-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("radicale did not start")
            time.sleep(0.1)
    yield RadicaleServer(f"http://127.0.0.1:{port}", "alice", "wonderland")
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


class _Misbehaving(http.server.BaseHTTPRequestHandler):
    mode = "garbage"
    delay = 0.0

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.mode == "slow":
            time.sleep(self.delay)
        body = b"<html>this is not WebDAV</html>\x00\xff"
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_PROPFIND = do_REPORT = do_PUT = do_DELETE = do_OPTIONS = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def bad_server():
    """Start a local HTTP server that answers garbage (``mode="garbage"``) or too late
    (``mode="slow"``, ``delay`` seconds); returns its base URL."""
    servers = []

    def start(mode: str = "garbage", delay: float = 0.0) -> str:
        handler = type("Handler", (_Misbehaving,), {"mode": mode, "delay": delay})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/alice/work/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
