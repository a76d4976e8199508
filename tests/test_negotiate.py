"""Negotiate and NTLM in the core: ranking, the extra's absence, names, channel binding."""

from __future__ import annotations

import hashlib

import pytest

from requests_challenge import parse_challenges, rank_challenges
from requests_challenge import _extras
from requests_challenge._negotiate import _ntlm_user_name, channel_binding_data
from requests_challenge.testing import self_signed_certificate

pytest.importorskip("spnego", reason="the [negotiate] extra (pyspnego)")

OFFER = ('Basic realm="r", Digest realm="r", nonce="n", algorithm=MD5, NTLM, '
         'Digest realm="r", nonce="m", algorithm=SHA-256, Negotiate')


def describe(header: str, **kwargs: object) -> list:
    usable, _ = rank_challenges(parse_challenges(header), **kwargs)  # type: ignore[arg-type]
    return [choice.describe() for choice in usable]


def test_negotiate_first_ntlm_between_digest_sha2_and_md5(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_extras, "_KERBEROS", True)
    assert describe(OFFER) == ["Negotiate", "Digest SHA-256", "NTLM", "Digest MD5", "Basic"]


def test_without_the_extra_the_reason_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_extras, "spnego", None)
    monkeypatch.setattr(_extras, "_KERBEROS", False)
    usable, skipped = rank_challenges(parse_challenges("Negotiate, NTLM, Basic realm=\"r\""))
    assert [choice.describe() for choice in usable] == ["Basic"]
    assert [reason for _, reason in skipped] == [
        "install requests-challenge[kerberos] (pyspnego and gssapi) to answer Negotiate",
        "install requests-challenge[negotiate] (pyspnego) to answer NTLM",
    ]


def test_a_continuation_token_is_not_a_new_challenge() -> None:
    usable, skipped = rank_challenges(parse_challenges("NTLM TlRMTVNTUAACAAAA"))
    assert not usable and "token68" in skipped[0][1]


@pytest.mark.parametrize("given,sent", [
    ("EXAMPLE\\bob", "EXAMPLE\\bob"), ("bob@EXAMPLE", "EXAMPLE\\bob"), ("bob", "bob"),
    ("bob@example.test", "example.test\\bob"), ("@EXAMPLE", "@EXAMPLE"),
])
def test_ntlm_user_names(given: str, sent: str) -> None:
    assert _ntlm_user_name(given) == sent


def test_tls_server_end_point_is_the_certificates_sha256(tmp_path) -> None:
    import ssl

    certificate = self_signed_certificate(tmp_path)
    der = ssl.PEM_cert_to_DER_cert(open(certificate.cert).read())
    assert channel_binding_data(der) == b"tls-server-end-point:" + hashlib.sha256(der).digest()
    assert channel_binding_data(None) is None


def test_no_token_or_secret_in_reprs() -> None:
    from requests_challenge._dialogue import responder_for
    from requests_challenge._schemes import Credentials

    usable, _ = rank_challenges(parse_challenges("NTLM"))
    responder = responder_for(usable[0], Credentials("EXAMPLE\\bob", "hunter2-pw"), "h.example", frozenset({"ntlm"}))
    answer = responder.answer("GET", "/", 1)
    assert answer.header.startswith("NTLM TlRMTVNTUAAB")
    assert "hunter2-pw" not in repr(responder) and "TlRM" not in repr(answer)
