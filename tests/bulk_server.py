"""A Digest server with huge bodies, run in its own process by tests/test_memory.py.

In its own process so that the client's allocations, measured with tracemalloc,
are the only ones counted. It prints its port, then serves on 127.0.0.1 until
its standard input closes (the test stops it by PID as well).

    GET  /big-401?size=N[&chunked=1]   401 (Digest, qop=auth) with an N-octet body
                                       (chunked=1 and size=0: endless, capped at 4 GiB);
                                       with credentials: 200 "ok"
    GET  /big-200?size=N[&wrong=1]     401 (Digest, qop=auth-int); with credentials: 200
                                       with N octets of "x" and Authentication-Info
                                       rspauth over them (a wrong one with wrong=1)
    POST /upload                       401 (Digest, qop=auth-int); with credentials: the
                                       body is read in chunks and its MD5 checked against
                                       the request's Digest response: 200 or 403

Credentials are checked for ``USER``/``PASSWORD`` with MD5 (RFC 7616 §3.4).
"""

from __future__ import annotations

import hashlib
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

USER, PASSWORD, REALM, NONCE = "bulk", "bulk-password", "bulk", "bulknonce"
_PARAM = re.compile(r'([a-z]+)=(?:"([^"]*)"|([^,\s]*))')
_BLOCK = 64 * 1024
_CAP = 4 << 30


def h(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def digest_params(value: str) -> dict:
    return {m.group(1): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM.finditer(value)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def challenge(self, qop: str, size: int = 0, chunked: bool = False) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", f'Digest realm="{REALM}", nonce="{NONCE}", qop="{qop}", algorithm=MD5')
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            sent, block = 0, b"z" * _BLOCK
            while size == 0 or sent < size:  # bounded: by size, by the cap, by the client closing
                if sent >= _CAP:
                    break
                try:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                except OSError:
                    return
                sent += len(block)
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.write_body(size, b"z")

    def write_body(self, size: int, fill: bytes) -> None:
        block = fill * _BLOCK
        left = size
        while left > 0:
            try:
                self.wfile.write(block[: min(left, _BLOCK)])
            except OSError:
                return
            left -= _BLOCK

    def check(self, entity_hash: str = "") -> dict:
        p = digest_params(self.headers.get("Authorization", ""))
        ha1 = h(f"{USER}:{REALM}:{PASSWORD}".encode())
        a2 = f"{self.command}:{p.get('uri')}" + (f":{entity_hash}" if p.get("qop") == "auth-int" else "")
        expected = h(f"{ha1}:{NONCE}:{p.get('nc')}:{p.get('cnonce')}:{p.get('qop')}:{h(a2.encode())}".encode())
        return p if p.get("response") == expected and p.get("username") == USER else {}

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        size = int(query.get("size", ["0"])[0])
        if "Authorization" not in self.headers:
            if parts.path == "/big-401":
                self.challenge("auth", size, chunked=query.get("chunked") == ["1"])
            else:
                self.challenge("auth-int")
            return
        p = self.check(h(b"") if parts.path == "/big-200" else "")
        if not p:
            self.challenge("auth")
            return
        self.send_response(200)
        if parts.path == "/big-200":
            body_hash = hashlib.md5()
            block = b"x" * _BLOCK
            for _ in range(size // _BLOCK):
                body_hash.update(block)
            body_hash.update(b"x" * (size % _BLOCK))
            ha1 = h(f"{USER}:{REALM}:{PASSWORD}".encode())
            ha2 = h(f":{p['uri']}:{body_hash.hexdigest()}".encode())
            rspauth = h(f"{ha1}:{NONCE}:{p['nc']}:{p['cnonce']}:{p['qop']}:{ha2}".encode())
            if query.get("wrong") == ["1"]:
                rspauth = "0" * 32
            self.send_header("Authentication-Info", f'rspauth="{rspauth}", qop={p["qop"]}, nc={p["nc"]}, cnonce="{p["cnonce"]}"')
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.write_body(size, b"x")
            return
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body_hash = hashlib.md5()
        left = length
        while left > 0:
            chunk = self.rfile.read(min(left, _BLOCK))
            if not chunk:
                break
            body_hash.update(chunk)
            left -= len(chunk)
        if "Authorization" not in self.headers:
            self.challenge("auth-int")
            return
        status = 200 if self.check(body_hash.hexdigest()) else 403
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # until the test closes our stdin
    server.shutdown()


if __name__ == "__main__":
    main()
