"""Negotiate (RFC 4559: SPNEGO with Kerberos) and NTLM (MS-NLMP) over pyspnego, an optional extra.

``pip install 'requests-challenge[negotiate]'`` gives NTLM (pyspnego's own MD4,
so OpenSSL 3 works) and ``[kerberos]`` adds the GSSAPI bindings Kerberos needs.
Without them these challenges are skipped, and the reason names the extra.

A responder here is immutable, like Basic's and Digest's: ``answer`` starts a
new security context per request and hands it back inside the `Answer`, and
``next_leg`` continues that context with the server's next token. So a
remembered Negotiate space can be answered up front by many threads at once,
each with its own context. NTLM and any SPNEGO exchange that takes more than one
leg must travel on one connection: ``pinned`` tells the transport.

Rules: ``schemes`` without "ntlm" means no NTLM at all, not even inside SPNEGO
(pyspnego would otherwise fall back from Kerberos to NTLM on a wrong Kerberos
password, the downgrade curl also had to fix). The server's last Negotiate
token is verified (mutual authentication, RFC 4559 §5). Over https the
``tls-server-end-point`` channel binding (RFC 5929 §4) is sent when the
transport gives the server's certificate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import secrets
import weakref
from typing import TYPE_CHECKING, Any, FrozenSet, Iterable, Optional, Sequence

from ._errors import UnsupportedChallenge
from ._extras import EXTRA_HINT, available, spnego
from ._grammar import Challenge
from ._schemes import Answer

if TYPE_CHECKING:
    from ._ranking import Choice

__all__ = ["SpnegoResponder", "channel_binding_data"]

log = logging.getLogger("requests_challenge")

def channel_binding_data(certificate: Optional[bytes]) -> Optional[bytes]:
    """RFC 5929 §4.1 ``tls-server-end-point``: the certificate's hash, SHA-256 for
    MD5 and SHA-1 signatures, else the signature's own hash (SHA-256 covers the
    certificates real servers use; SHA-384/512 signed ones get their hash)."""
    if not certificate:
        return None
    name = "sha256"
    try:
        from cryptography import x509  # a dependency of pyspnego

        algorithm = x509.load_der_x509_certificate(certificate).signature_hash_algorithm
        if algorithm is not None and algorithm.name in ("sha384", "sha512"):
            name = algorithm.name
    except Exception:  # unreadable: SHA-256, as most servers sign with it
        pass
    return b"tls-server-end-point:" + hashlib.new(name, certificate).digest()


class _Leg:
    """One request's security context: the ``session`` of an `Answer`."""

    __slots__ = ("context",)

    def __init__(self, context: Any) -> None:
        self.context = context

    def __repr__(self) -> str:
        return "<security context>"  # never a token or a key


class SpnegoResponder:
    """Negotiate or NTLM for one user and one server name."""

    __slots__ = (
        "choice", "pinned", "_hostname", "_protocol", "_options", "_bindings", "_label",
        "_credential", "__weakref__",
    )
    needs_body = False
    nonce = None

    def __init__(
        self,
        choice: "Choice",
        username: Optional[str],
        password: Optional[str],
        hostname: str,
        schemes: FrozenSet[str],
        certificate: Optional[bytes] = None,
    ) -> None:
        if not available(choice.scheme):
            raise UnsupportedChallenge(EXTRA_HINT[choice.scheme])
        self.choice = choice
        user_name = username
        self._hostname = hostname
        self._label = choice.challenge.scheme  # echoed as the server spelled it
        assert spnego is not None  # available() said so
        options = spnego.NegotiateOptions.none
        if choice.scheme == "ntlm":
            if username is None or password is None:
                raise ValueError("NTLM needs a user name and password")
            self._protocol = "ntlm"
            user_name = _ntlm_user_name(username)
        elif "ntlm" in schemes:
            self._protocol = "negotiate"  # SPNEGO: Kerberos first, NTLM when Kerberos cannot be had
        else:
            # NTLM not allowed, not even inside SPNEGO: a Kerberos token alone, which
            # IIS, Apache mod_auth_gssapi and squid take under Negotiate as they take
            # SPNEGO. (pyspnego's negotiate_kerberos option still lists NTLM.)
            self._protocol = "kerberos"
        self._options = options
        # NTLM's legs share one connection (MS-NLMP §3.1.1 on a connection-oriented
        # transport): when NTLM may be used, inside SPNEGO too, the transport pins them.
        self.pinned = self._protocol != "kerberos"
        data = channel_binding_data(certificate)
        self._bindings = None
        if data:
            from spnego.channel_bindings import GssChannelBindings

            self._bindings = GssChannelBindings(application_data=data)
        # Kerberos from a password: log in once, here (one AS exchange with the KDC),
        # into a private in-memory ticket cache that every later request's context
        # uses, service tickets included; not once per request. A wrong password
        # fails here, so this scheme is skipped and the KDC is not asked again.
        self._credential: Any = (user_name, password)
        if self._protocol != "ntlm" and username is not None and password is not None:
            try:
                ccache = _login(username, password)
            except ValueError:
                if self._protocol == "kerberos":
                    raise  # Kerberos alone: nothing else may be tried inside SPNEGO
                ccache = None  # SPNEGO may still offer NTLM with the password
            if ccache is not None:
                weakref.finalize(self, _destroy, ccache)  # the login ends with the responder
                kerberos = spnego.KerberosCCache(ccache=ccache, principal=username)
                self._credential = [kerberos, spnego.Password(username, password)] if self._protocol == "negotiate" else kerberos

    def __repr__(self) -> str:
        return f"<SpnegoResponder {self._label} for {self._hostname}>"

    def answer(self, method: str, uri: str, nonce_count: int, body: Iterable[bytes] = ()) -> Answer:
        assert spnego is not None  # a responder is only made where it imports
        try:
            if isinstance(self._credential, tuple):
                username, password = self._credential
                context = spnego.client(
                    username, password, hostname=self._hostname, service="HTTP",
                    protocol=self._protocol, options=self._options, channel_bindings=self._bindings,
                )
            else:
                context = spnego.client(
                    self._credential, hostname=self._hostname, service="HTTP",
                    protocol=self._protocol, options=self._options, channel_bindings=self._bindings,
                )
            token = context.step()
        except Exception as exc:  # SpnegoError, krb5.Krb5Error, gssapi errors: the library's own
            # A wrong Kerberos password or no ticket: this scheme cannot be answered.
            raise ValueError(f"{self._label}: {_reason(exc)}") from None
        if not token:
            raise ValueError(f"{self._label}: no token to send")
        return Answer(f"{self._label} {base64.b64encode(token).decode('ascii')}", session=_Leg(context))

    def next_leg(self, challenges: Sequence[Challenge], session: Any = None) -> Optional[Answer]:
        """The next token for the server's continuation token, or None (a refusal)."""
        if not isinstance(session, _Leg) or session.context.complete:
            return None
        token = _server_token(challenges, self.choice.scheme)
        if token is None:
            return None
        try:
            out = session.context.step(token)
        except Exception as exc:  # SpnegoError, krb5.Krb5Error, gssapi errors: the library's own
            log.debug("%s: the server's token was refused: %s", self._label, _reason(exc))
            return None
        if not out:
            return None
        return Answer(f"{self._label} {base64.b64encode(out).decode('ascii')}", session=session)

    def verify(self, challenges: Sequence[Challenge], session: Any = None) -> Optional[str]:
        """Mutual authentication (RFC 4559 §5): None when the server proved itself or
        sent nothing to check, else why not."""
        if not isinstance(session, _Leg) or self._protocol == "ntlm":
            return None
        token = _server_token(challenges, self.choice.scheme)
        if token is None or session.context.complete:
            return None
        try:
            session.context.step(token)
        except Exception as exc:  # SpnegoError, krb5.Krb5Error, gssapi errors: the library's own
            return f"the server's final {self._label} token does not verify: {_reason(exc)}"
        if not session.context.complete:
            return f"the server's final {self._label} token did not complete the handshake"
        return None

    def with_nonce(self, nonce: str) -> "SpnegoResponder":
        return self

    def reusable(self, session: Any = None) -> bool:
        """Whether later requests may carry this scheme up front: Kerberos, whose
        token stands alone, yes; NTLM, bound to the connection it ran on, no."""
        if not isinstance(session, _Leg) or not session.context.complete:
            return False
        if self._protocol == "negotiate":
            try:
                return session.context.negotiated_protocol == "kerberos"
            except Exception:
                return False
        return self._protocol == "kerberos"


def _login(username: str, password: str) -> Optional[str]:
    """A Kerberos login into a private MEMORY ticket cache, its name; None where the GSSAPI
    bindings lack the password and store extensions (pyspnego then logs in per request).
    Raises ValueError when the KDC refuses (wrong password, unknown principal)."""
    try:
        import gssapi
        import gssapi.raw as gss
    except ImportError:
        return None
    if not (hasattr(gss, "acquire_cred_with_password") and hasattr(gss, "store_cred_into")):
        return None
    try:
        name = gssapi.Name(username, gssapi.NameType.user)
        creds = gss.acquire_cred_with_password(name, password.encode("utf-8"), usage="initiate").creds
        ccache = f"MEMORY:requests-challenge-{secrets.token_hex(12)}"
        gss.store_cred_into({b"ccache": ccache.encode("ascii")}, creds, usage="initiate", overwrite=True)
    except Exception as exc:  # gssapi.raw.misc.GSSError and friends
        raise ValueError(f"Kerberos: {_reason(exc)}") from None
    return ccache


def _destroy(ccache: str) -> None:
    """Forget a login's in-memory ticket cache (MEMORY caches live as long as the process)."""
    try:
        import krb5

        context = krb5.init_context()
        krb5.cc_destroy(context, krb5.cc_resolve(context, ccache.encode("ascii")))
    except Exception:  # not there, or no krb5 bindings: nothing more to do
        pass


def _ntlm_user_name(username: str) -> str:
    """``user@DOMAIN`` as ``DOMAIN\\user``: NTLMv2 hashes the domain with the user
    (MS-NLMP §3.3.2, NTOWFv2), and servers that look users up by domain (gss-ntlmssp,
    Samba) find them only so. ``DOMAIN\\user`` and a bare ``user`` pass unchanged."""
    if "\\" in username or "@" not in username:
        return username
    user, _, domain = username.rpartition("@")
    return f"{domain}\\{user}" if user and domain else username


def _server_token(challenges: Sequence[Challenge], scheme: str) -> Optional[bytes]:
    for challenge in challenges:
        if challenge.scheme.lower() == scheme and challenge.token68:
            try:
                return base64.b64decode(challenge.token68, validate=True)
            except (binascii.Error, ValueError):
                return None
    return None


def _reason(exc: BaseException) -> str:
    """pyspnego's message, first line only: it names principals, never passwords."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
