"""A strict HTTPS acceptor for Negotiate and NTLM that REQUIRES channel bindings.

Run as a child process by :class:`support.EpaServer` (never imported by the
tests: it must get its own environment, ``KRB5_KTNAME`` and ``NTLM_USER_FILE``
above all, which must not leak into the client side of the test process).

mod_auth_gssapi passes no channel bindings to ``gss_accept_sec_context``, so it
cannot check Extended Protection for Authentication (EPA).  This server wraps
pyspnego's acceptor (``spnego.server(...)`` with the keytab of ``KRB5_KTNAME``
and the NTLM users of ``NTLM_USER_FILE``) and gives it the
``tls-server-end-point`` channel binding of RFC 5929, computed from its own
certificate.  On top of what the acceptors check by themselves it refuses
tokens WITHOUT bindings, which both would let through:

* Kerberos: MIT krb5 accepts an AP-REQ whose checksum carries no bindings; it
  then leaves ``GSS_C_CHANNEL_BOUND_FLAG`` (0x800) out of the context's flags.
  A completed Kerberos context without that flag is refused.
* NTLM: pyspnego accepts an all-zero ``MsvAvChannelBindings``; this server
  reads the AV pairs of the NTLMv2 response itself and demands the MD5 of the
  bindings there (and refuses NTLMv1 responses, which cannot carry them).

Wrong bindings are refused by the acceptors themselves (``GSS_S_BAD_BINDINGS``,
pyspnego's ``BadBindingsError``).  Every refusal is a 401 with fresh challenges.

Authentication is per connection, as IIS does it: once a handshake on a
connection succeeded, later requests on it without ``Authorization`` are
served as that user; a request with a new ``Authorization`` starts over.

Logs (in ``--log-dir``):

* ``access.log``: ``status method path user tag`` (the suite's common format).
* A path starting ``/impostor`` gets, on success, a final token with its last
  octets changed: what a server that cannot prove itself sends (mutual auth tests).
* ``tokens.log``: ``tag|status|method|authorization|proxy-authorization`` (the
  header values as received, ``-`` when absent), like the Apache and squid
  fixtures write, plus a ``verdict`` file per refusal reason in ``verdicts.log``
  (``tag|status|verdict``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import ssl
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, List, Optional, Tuple

import spnego
from spnego.channel_bindings import GssChannelBindings

TAG_HEADER = "X-Test-Tag"
GSS_C_CHANNEL_BOUND_FLAG = 0x800
CONNECTION_TIMEOUT = 30.0  # seconds an idle connection is kept
NTLMSSP = b"NTLMSSP\x00"
MSV_AV_EOL = 0x0000
MSV_AV_CHANNEL_BINDINGS = 0x000A


def tls_server_end_point(cert_pem: bytes) -> bytes:
    """RFC 5929 section 4.1: the hash of the DER certificate, with the hash of
    its signature algorithm, MD5 and SHA-1 replaced by SHA-256."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem)
    algorithm = cert.signature_hash_algorithm
    name = algorithm.name if algorithm is not None else "sha256"
    if name in ("md5", "sha1"):
        name = "sha256"
    der = ssl.PEM_cert_to_DER_cert(cert_pem.decode("ascii"))
    return hashlib.new(name, der).digest()


def ntlm_authenticate_message(token: bytes) -> Optional[bytes]:
    """The NTLM AUTHENTICATE message in ``token`` (raw, or the responseToken of
    a SPNEGO NegTokenResp), else None.  Trailing bytes (a mechListMIC after
    the message) do no harm: the message addresses its fields by offset."""
    at = token.find(NTLMSSP + b"\x03\x00\x00\x00")
    return token[at:] if at >= 0 else None


def ntlm_bindings_verdict(message: bytes, expected_md5: bytes) -> Optional[str]:
    """Why an AUTHENTICATE message lacks the right channel bindings, or None.

    NtChallengeResponseFields sit at offset 20 (length, max length, offset).
    An NTLMv2 response is NTProofStr (16 bytes), then the client challenge
    structure: RespType, HiRespType, 6 reserved, TimeStamp (8),
    ChallengeFromClient (8), 4 reserved, then the AV pairs.
    """
    if len(message) < 28:
        return "ntlm message too short"
    length, _, offset = struct.unpack_from("<HHI", message, 20)
    response = message[offset:offset + length]
    if len(response) <= 24:
        return "ntlmv1 response (no room for channel bindings)"
    pairs = response[16 + 28:]
    position = 0
    while position + 4 <= len(pairs):
        av_id, av_len = struct.unpack_from("<HH", pairs, position)
        value = pairs[position + 4:position + 4 + av_len]
        if av_id == MSV_AV_EOL:
            break
        if av_id == MSV_AV_CHANNEL_BINDINGS:
            if value == b"\x00" * 16:
                return "ntlm channel bindings all zero (client sent none)"
            if value != expected_md5:
                return "ntlm channel bindings do not match"
            return None
        position += 4 + av_len
    return "ntlm channel bindings missing"


def gss_flags(context: object) -> Optional[int]:
    """The raw GSS flags of a completed pyspnego Kerberos context.

    pyspnego maps them to ContextReq, which has no member for
    GSS_C_CHANNEL_BOUND_FLAG, so they are read from the sub-context: the
    GSSAPI context NegotiateProxy chose keeps them in ``_context_attr``.
    """
    inner = getattr(context, "_context", None)  # NegotiateProxy's chosen mech
    for candidate in (inner, context):
        flags = getattr(candidate, "_context_attr", None)
        if isinstance(flags, int) and getattr(candidate, "negotiated_protocol", None) == "kerberos":
            return flags
    return None


def describe(exc: BaseException) -> str:
    """An exception and its causes on one line (GSS errors hide in __cause__)."""
    parts: List[str] = []
    seen = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen and len(parts) < 4:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}".replace("\n", " ").replace("|", "/"))
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)[:600]


def deferred_gss_error(context: object) -> Optional[BaseException]:
    """python-gssapi defers an acceptor error that comes with an error token
    (MIT's answer to GSS_S_BAD_BINDINGS when mutual auth was asked for): the
    step returns the token and pyspnego then fails reading the flags.  Dig the
    real error out of the nested contexts, for the verdict only."""
    current = context
    for _ in range(4):
        error = getattr(current, "_last_err", None)
        if isinstance(error, BaseException):
            return error
        current = getattr(current, "_context", None)
        if current is None:
            return None
    return None


class EpaServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: Tuple[str, int], bindings: GssChannelBindings, log_dir: str, spn_host: str,
                 ssl_context: ssl.SSLContext) -> None:
        super().__init__(address, Handler)
        self.ssl_context = ssl_context
        self.bindings = bindings
        self.bindings_md5 = hashlib.md5(bindings.pack()).digest()
        self.spn_host = spn_host
        self._log_lock = threading.Lock()
        self._access = open(os.path.join(log_dir, "access.log"), "ab", buffering=0)
        self._tokens = open(os.path.join(log_dir, "tokens.log"), "ab", buffering=0)
        self._verdicts = open(os.path.join(log_dir, "verdicts.log"), "ab", buffering=0)

    def finish_request(self, request, client_address) -> None:  # type: ignore[override]
        """TLS handshake in the connection's own thread: a slow or broken client
        holds up nobody else."""
        request.settimeout(CONNECTION_TIMEOUT)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except OSError:
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def log_exchange(self, status: int, method: str, path: str, user: Optional[str], tag: Optional[str],
                     authorization: Optional[str], verdict: Optional[str]) -> None:
        tag = tag or "-"
        with self._log_lock:
            # tokens and verdicts first: a test that saw the access line finds them.
            self._tokens.write(f"{tag}|{status}|{method}|{authorization or '-'}|-\n".encode("utf-8", "replace"))
            if verdict:
                self._verdicts.write(f"{tag}|{status}|{verdict}\n".encode("utf-8", "replace"))
            self._access.write(
                f"{status} {method} {path} {user or '-'} {tag}\n".encode("utf-8", "replace")
            )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "requests-challenge-epa"
    server: EpaServer

    def setup(self) -> None:
        super().setup()
        self.context: Any = None  # the pyspnego acceptor of this connection's handshake
        self.context_scheme: Optional[str] = None
        self.user: Optional[str] = None  # who this connection authenticated as
        self.protocol_used: Optional[str] = None

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_HEAD = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: List[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        body = self._read_body()
        authorization = self.headers.get("Authorization")
        status, verdict, reply_token = self._authenticate(authorization)
        tag = self.headers.get(TAG_HEADER)
        user = self.user if status == 200 else None
        if status == 200:
            payload = json.dumps({
                "method": self.command, "path": self.path, "user": self.user,
                "protocol": self.protocol_used, "channel_bound": True,
                "body_length": len(body), "body_sha256": hashlib.sha256(body).hexdigest(),
            }).encode()
        else:
            payload = json.dumps({"error": verdict or "authentication required"}).encode()
        self.send_response(status)
        if reply_token is not None and status == 200 and self.path.startswith("/impostor"):
            # A server that cannot prove itself: the last token of another exchange's
            # shape, with its octets changed, as an impostor without the key would send.
            scheme, _, token = reply_token.partition(" ")
            raw = bytearray(base64.b64decode(token))
            raw[-8:] = bytes(b ^ 0x5A for b in raw[-8:])
            reply_token = f"{scheme} {base64.b64encode(bytes(raw)).decode()}"
        if reply_token is not None:
            self.send_header("WWW-Authenticate", reply_token)
        elif status == 401:
            self.send_header("WWW-Authenticate", "Negotiate")
            self.send_header("WWW-Authenticate", "NTLM")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.server.log_exchange(status, self.command, self.path.split("?")[0], user, tag, authorization, verdict)

    def _refuse(self, verdict: str) -> Tuple[int, str, None]:
        self.context = None
        self.context_scheme = None
        self.user = None
        return 401, verdict, None

    def _authenticate(self, authorization: Optional[str]) -> Tuple[int, Optional[str], Optional[str]]:
        """(status, verdict on a refusal, WWW-Authenticate value to send back or None)."""
        if authorization is None:
            if self.user is not None:
                return 200, None, None
            return 401, None, None
        scheme, _, value = authorization.strip().partition(" ")
        scheme_key = scheme.lower()
        if scheme_key not in ("negotiate", "ntlm"):
            return self._refuse(f"scheme {scheme} not offered")
        try:
            token = base64.b64decode(value.strip(), validate=True)
        except ValueError:
            return self._refuse("token is not base64")
        if not token:
            return self._refuse("empty token")

        if self.context is None or self.context_scheme != scheme_key or self.context.complete:
            self.user = None
            self.context_scheme = scheme_key
            self.context = spnego.server(
                hostname=self.server.spn_host, service="HTTP",
                channel_bindings=self.server.bindings, protocol=scheme_key,
            )

        message = ntlm_authenticate_message(token)
        if message is not None:
            verdict = ntlm_bindings_verdict(message, self.server.bindings_md5)
            if verdict is not None:
                return self._refuse(verdict)

        try:
            out = self.context.step(token)
        except Exception as exc:  # pyspnego's SpnegoError family, bad tokens
            deferred = deferred_gss_error(self.context)
            detail = describe(exc) + (f" (GSS: {describe(deferred)})" if deferred is not None else "")
            return self._refuse("acceptor refused: " + detail)

        reply = f"{scheme} {base64.b64encode(out).decode()}" if out else None
        if not self.context.complete:
            return 401, None, reply

        protocol = self.context.negotiated_protocol
        if protocol == "kerberos":
            flags = gss_flags(self.context)
            if flags is None:
                return self._refuse("cannot read the Kerberos context flags (pyspnego changed?)")
            if not flags & GSS_C_CHANNEL_BOUND_FLAG:
                return self._refuse("kerberos channel bindings missing")
        elif protocol == "ntlm":
            if message is None:
                return self._refuse("ntlm completed without an AUTHENTICATE message")
        else:
            return self._refuse(f"unexpected protocol {protocol}")

        self.user = self.context.client_principal
        self.protocol_used = protocol
        return 200, None, reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--spn-host", default="localhost")
    args = parser.parse_args()

    with open(args.cert, "rb") as f:
        digest = tls_server_end_point(f.read())
    bindings = GssChannelBindings(application_data=b"tls-server-end-point:" + digest)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server = EpaServer((args.host, args.port), bindings, args.log_dir, args.spn_host, context)
    sys.stdout.write(f"listening on {args.host}:{args.port}\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
