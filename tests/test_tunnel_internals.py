"""Unit checks of requests_challenge/_tunnel.py's private parts.

tests/test_tunnel.py tests ChallengeAdapter through its public API only. What is
here has no public equivalent without a proxy that misbehaves byte by byte: the
reply reader's handling of interim replies, folded fields and malformed or
endless heads, its keep-alive and body-length rules, and the CONNECT authority
of host names that requests itself would already have converted (brackets,
IDNA) when urllib3 is used without requests.
"""

from __future__ import annotations

import socket
from typing import Tuple

import pytest

from requests_challenge._schemes import Credentials
from requests_challenge._tunnel import _authority, _ProxyClosed, _read_reply, _Reader, _Reply, _TunnelAuth, _TunnelFailure


@pytest.mark.parametrize(
    "host,port,expected",
    [
        ("api.example", 443, "api.example:443"),
        ("127.0.0.1", 8443, "127.0.0.1:8443"),
        ("::1", 443, "[::1]:443"),
        ("[::1]", 443, "[::1]:443"),
        ("bücher.example", 443, "xn--bcher-kva.example:443"),
    ],
)
def test_connect_authority(host: str, port: int, expected: str) -> None:
    assert _authority(host, port) == expected


def test_tunnel_auth_repr_hides_the_password() -> None:
    tunnel = _TunnelAuth(Credentials("puser", "hunter2-secret"), frozenset({"digest"}))
    assert "hunter2-secret" not in repr(tunnel) and "puser" in repr(tunnel)


# -- the bounded reply reader -------------------------------------------------------------


def _reply_from(data: bytes) -> Tuple[_Reply, _Reader]:
    a, b = socket.socketpair()
    try:
        b.sendall(data)
        b.shutdown(socket.SHUT_WR)
        a.settimeout(5)
        reader = _Reader(a)
        return _read_reply(reader), reader
    finally:
        a.close()
        b.close()


def test_reply_reader_reads_fields_folds_and_skips_interim_replies() -> None:
    reply, reader = _reply_from(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 407 Proxy Authentication Required\r\n"
        b'Proxy-Authenticate: Digest realm="r",\r\n nonce="n"\r\n'
        b"Proxy-Authenticate: Basic realm=\"r\"\r\n"
        b"Content-Length: 5\r\n\r\nhello"
    )
    assert (reply.version, reply.status) == ("HTTP/1.1", 407)
    assert reply.get_all("proxy-authenticate") == ['Digest realm="r", nonce="n"', 'Basic realm="r"']
    assert reply.body_length() == 5 and reply.keeps_alive()
    assert reader.discard(5) and reader.pending == 0


@pytest.mark.parametrize(
    "data,message",
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "HTTP status line"),
        (b"HTTP/1.1 407 X\r\nX: " + b"a" * 70000 + b"\r\n\r\n", "too long"),
        (b"HTTP/1.1 407 X\r\n" + b"X: y\r\n" * 101 + b"\r\n", "more than 100"),
        (b"HTTP/1.1 407 X\r\nno colon here\r\n\r\n", "malformed header"),
        (b"HTTP/1.1 407 X\r\nX: y\r\n", "inside its reply headers"),
    ],
)
def test_reply_reader_is_bounded_and_strict(data: bytes, message: str) -> None:
    with pytest.raises(_TunnelFailure, match=message):
        _reply_from(data)


def test_reply_reader_reports_a_close_before_the_status_line() -> None:
    with pytest.raises(_ProxyClosed):
        _reply_from(b"")


def test_keep_alive_and_body_length_rules() -> None:
    reply, _ = _reply_from(b"HTTP/1.0 407 X\r\nProxy-Connection: keep-alive\r\nContent-Length: 0\r\n\r\n")
    assert reply.keeps_alive() and reply.body_length() == 0
    reply, _ = _reply_from(b"HTTP/1.1 407 X\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert not reply.keeps_alive()
    reply, _ = _reply_from(b"HTTP/1.1 407 X\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert reply.body_length() is None
    reply, _ = _reply_from(b"HTTP/1.1 407 X\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
    assert reply.body_length() is None
    reply, _ = _reply_from(b"HTTP/1.0 407 X\r\n\r\n")
    assert not reply.keeps_alive() and reply.body_length() is None
