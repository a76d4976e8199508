"""Credentials from a netrc file, for any scheme (requests uses netrc for Basic only).

The file is ``file`` if given, else ``$NETRC``, else ``~/.netrc``. It is read once,
when the auth object is made, and every entry is checked then (a CR, LF or NUL in
a login or password is a ValueError, as for credentials given directly). A
``machine`` entry is for that host name on any port, as netrc(5), curl and
requests read it; ``default`` is for every other host, as netrc(5) says.
"""

from __future__ import annotations

import netrc
import os
from typing import Dict, Iterator, Optional, Union

from ._schemes import Credentials

__all__ = ["NetrcCredentials"]

PathLike = Union[str, "os.PathLike[str]"]


class NetrcCredentials:
    """Host name -> credentials, read from one netrc file."""

    __slots__ = ("path", "_hosts", "_default")

    def __init__(self, file: Optional[PathLike] = None, basic_encoding: str = "utf-8") -> None:
        explicit = file if file is not None else os.environ.get("NETRC")
        path = os.fspath(explicit) if explicit is not None else os.path.join(os.path.expanduser("~"), ".netrc")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no netrc file at {path}")
        # With no file named, the standard library also refuses a ~/.netrc that
        # others can read (POSIX), as ftplib does.
        parsed = netrc.netrc(path if explicit is not None else None)
        self.path = path
        self._hosts: Dict[str, Credentials] = {}
        self._default: Optional[Credentials] = None
        for host, (login, _account, password) in parsed.hosts.items():
            credentials = Credentials(login or "", password or "", basic_encoding)
            if host == "default":
                self._default = credentials
            else:
                self._hosts[host.lower().rstrip(".")] = credentials

    def __repr__(self) -> str:
        return f"NetrcCredentials({self.path!r}, {len(self._hosts)} hosts{', default' if self._default else ''})"

    def __iter__(self) -> Iterator[Credentials]:
        yield from self._hosts.values()
        if self._default is not None:
            yield self._default

    def __len__(self) -> int:
        return len(self._hosts) + (self._default is not None)

    def for_host(self, host: str) -> Optional[Credentials]:
        """The credentials for ``host`` (a URL's host name), or None."""
        return self._hosts.get(host.lower().rstrip("."), self._default)
