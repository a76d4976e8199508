"""Which optional extras this installation has, probed once at import.

``[negotiate]`` is pyspnego (NTLM, with its own MD4, so OpenSSL 3 works);
``[kerberos]`` adds the GSSAPI bindings Kerberos needs. The ranking asks here,
so a challenge this installation cannot answer is skipped with a reason that
names the extra to install, and nothing imports pyspnego otherwise.
"""

from __future__ import annotations

import importlib
from typing import Any, Optional

__all__ = ["spnego", "available", "EXTRA_HINT"]

EXTRA_HINT = {
    "ntlm": "install requests-challenge[negotiate] (pyspnego) to answer NTLM",
    "negotiate": "install requests-challenge[kerberos] (pyspnego and gssapi) to answer Negotiate",
}


def _imported(name: str) -> Optional[Any]:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


spnego = _imported("spnego")
_KERBEROS = spnego is not None and _imported("gssapi") is not None  # what pyspnego's Kerberos needs


def available(scheme: str) -> bool:
    """Whether this installation can answer ``scheme`` ("negotiate" needs Kerberos)."""
    if scheme == "ntlm":
        return spnego is not None
    if scheme == "negotiate":
        return _KERBEROS
    return False
