"""A self-signed certificate for https test servers, made with the openssl command."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from dataclasses import dataclass

__all__ = ["SelfSignedCertificate", "self_signed_certificate"]


@dataclass(frozen=True)
class SelfSignedCertificate:
    """PEM files of a certificate for one IP address, and of its key."""

    cert: str
    key: str

    @property
    def cafile(self) -> str:
        """What a client trusts to reach the server: ``verify=certificate.cafile``."""
        return self.cert

    def server_context(self) -> ssl.SSLContext:
        """For ``ChallengeServer(ssl_context=...)``; clients pass ``verify=cert``."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed_certificate(directory: "os.PathLike[str] | str", host: str = "127.0.0.1") -> SelfSignedCertificate:
    """Make a certificate for ``host`` (an IP address) in ``directory`` with the openssl command.

    It is its own CA (basicConstraints, keyUsage), so clients can verify against it
    with ``verify=cert``, also under Python 3.13's VERIFY_X509_STRICT. Raises
    FileNotFoundError, naming the Debian package, where openssl is missing.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("openssl not installed (apt-get install openssl)")
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={host}",
            "-addext", f"subjectAltName=IP:{host}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
        ],
        check=True, capture_output=True, timeout=60,
    )
    return SelfSignedCertificate(cert, key)
