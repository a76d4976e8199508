"""What a test server saw: one `Exchange` per request, in a bounded, thread-safe log."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Sequence, Union, overload

__all__ = ["Exchange", "ExchangeLog"]


@dataclass(frozen=True)
class Exchange:
    """One request and the server's answer."""

    method: str
    path: str  # the request-target as received, query included
    authorization: Optional[str]  # Authorization (Proxy-Authorization for a proxy) received
    status: int
    user: Optional[str] = None  # who was authenticated
    reason: str = ""  # why credentials were refused: "no credentials", "stale nonce", ...


class ExchangeLog(Sequence[Exchange]):
    """The exchanges so far, oldest first; thread-safe, bounded, readable as a list.

    ``on_exchange`` is called with each one after it is logged (in the serving
    thread, before the client gets its answer).
    """

    def __init__(self, limit: int = 10_000, on_exchange: Optional[Callable[[Exchange], None]] = None) -> None:
        self._lock = threading.Lock()
        self._items: "deque[Exchange]" = deque(maxlen=limit)
        self.on_exchange = on_exchange

    def append(self, exchange: Exchange) -> None:
        with self._lock:
            self._items.append(exchange)
        if self.on_exchange is not None:
            self.on_exchange(exchange)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def snapshot(self) -> List[Exchange]:
        with self._lock:
            return list(self._items)

    @overload
    def __getitem__(self, index: int) -> Exchange: ...

    @overload
    def __getitem__(self, index: slice) -> List[Exchange]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[Exchange, List[Exchange]]:
        return self.snapshot()[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self.snapshot())

    def __repr__(self) -> str:
        return f"ExchangeLog({self.snapshot()!r})"
