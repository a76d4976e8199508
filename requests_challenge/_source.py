"""What an auth object answers with, the same for every transport.

One user name and password; or per host, from a netrc file; or neither: the
Kerberos ticket cache, with Negotiate only. Plus the schemes allowed and whether
Basic goes up front. Everything is checked here, once, at construction: the
requests, httpx and aiohttp front ends only ask `CredentialSource.for_origin`.
"""

from __future__ import annotations

import os
from typing import FrozenSet, Iterable, Optional, Tuple, Union

from ._basic import basic_authorization
from ._netrc import NetrcCredentials
from ._ranking import allowed_schemes
from ._schemes import Credentials
from ._spaces import Origin

__all__ = ["CredentialSource"]

PathLike = Union[str, "os.PathLike[str]"]


class CredentialSource:
    """Credentials for an origin, the schemes to answer with, Basic up front or not."""

    __slots__ = ("credentials", "netrc", "schemes", "named", "preemptive_basic", "basic_encoding")

    def __init__(
        self,
        credentials: Optional[Credentials],
        netrc: Optional[NetrcCredentials],
        schemes: FrozenSet[str],
        named: bool,
        preemptive_basic: bool,
        basic_encoding: str,
    ) -> None:
        self.credentials = credentials
        self.netrc = netrc
        self.schemes = schemes
        self.named = named  # schemes= was given: a scheme named there cannot be dropped silently
        self.preemptive_basic = preemptive_basic
        self.basic_encoding = basic_encoding
        if preemptive_basic:
            entries = (credentials,) if netrc is None else tuple(netrc)
            if not any(entries):
                raise TypeError("preemptive_basic needs a user name and password")
            for each in entries:
                if each is not None:  # fail now, not on the first request, for a bad user name
                    basic_authorization(each.username, each.password, basic_encoding)

    @classmethod
    def given(
        cls,
        username: Optional[str],
        password: Optional[str],
        *,
        schemes: Optional[Iterable[str]] = None,
        preemptive_basic: bool = False,
        basic_encoding: str = "utf-8",
    ) -> "CredentialSource":
        """A user name and password, or neither (the Kerberos ticket cache)."""
        if (username is None) != (password is None):
            raise TypeError("give a user name and a password, or neither (Negotiate from the Kerberos ticket cache)")
        credentials = None
        if username is not None and password is not None:
            credentials = Credentials(username, password, basic_encoding)
        return cls(credentials, None, allowed_schemes(schemes), schemes is not None, preemptive_basic, basic_encoding)

    @classmethod
    def from_netrc(
        cls,
        file: Optional[PathLike] = None,
        *,
        schemes: Optional[Iterable[str]] = None,
        preemptive_basic: bool = False,
        basic_encoding: str = "utf-8",
    ) -> "CredentialSource":
        """Per host from a netrc file: ``file``, else ``$NETRC``, else ``~/.netrc``, read now."""
        table = NetrcCredentials(file, basic_encoding)
        return cls(None, table, allowed_schemes(schemes), schemes is not None, preemptive_basic, basic_encoding)

    def restricted(self, schemes: FrozenSet[str]) -> "CredentialSource":
        """The same source answering only ``schemes`` (a transport that cannot do some)."""
        return CredentialSource(
            self.credentials, self.netrc, self.schemes & schemes, self.named, self.preemptive_basic, self.basic_encoding
        )

    def for_origin(self, origin: Origin) -> Optional[Tuple[Optional[Credentials], FrozenSet[str]]]:
        """The credentials for ``origin`` and the schemes to answer with, or None: nothing
        for it (netrc names no entry). Credentials None means the ticket cache."""
        if self.netrc is not None:
            found = self.netrc.for_host(origin[1])
            return None if found is None else (found, self.schemes)
        if self.credentials is None:
            return None, self.schemes & {"negotiate"}
        return self.credentials, self.schemes

    @property
    def username(self) -> Optional[str]:
        """The user name, or None for netrc (per host) and the ticket cache."""
        return self.credentials.username if self.credentials is not None else None

    def describe(self, name: str, extra: str = "") -> str:
        """A repr for the front end called ``name``: no password, ever."""
        if self.netrc is not None:
            return f"{name}.from_netrc({self.netrc.path!r}{extra})"
        if self.credentials is None:
            return f"{name}({extra.lstrip(', ')})"
        return f"{name}(username={self.username!r}, password=…{extra})"

    def __getstate__(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict) -> None:
        for name in self.__slots__:
            setattr(self, name, state[name])
