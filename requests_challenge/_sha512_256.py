"""Pure-Python SHA-512/256 (FIPS 180-4 §5.3.6.2, §6.4) for a hashlib without it.

Only used when OpenSSL does not offer ``sha512_256``; slow, but correct.
"""

from __future__ import annotations

import struct

_MASK = (1 << 64) - 1

# FIPS 180-4 §4.2.3: the first 64 bits of the fractional parts of the cube roots
# of the first eighty primes, generated rather than typed in.
def _primes(count: int) -> list:
    found: list = []
    candidate = 2
    while len(found) < count:
        if all(candidate % p for p in found if p * p <= candidate):
            found.append(candidate)
        candidate += 1
    return found


def _icbrt(n: int) -> int:
    """Integer cube root, exact, by Newton's method."""
    x = 1 << ((n.bit_length() + 2) // 3)
    while True:
        y = (2 * x + n // (x * x)) // 3
        if y >= x:
            break
        x = y
    while x * x * x > n:
        x -= 1
    while (x + 1) ** 3 <= n:
        x += 1
    return x


_K = [_icbrt(p << 192) & _MASK for p in _primes(80)]

# FIPS 180-4 §5.3.6.2: the initial hash value of SHA-512/256.
_IV = (
    0x22312194FC2BF72C, 0x9F555FA3C84C64C2, 0x2393B86B6F53B151, 0x963877195940EABD,
    0x96283EE2A88EFFE3, 0xBE5E1E2553863992, 0x2B0199FC2C85B8AA, 0x0EB72DDC81C52CA2,
)


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (64 - n))) & _MASK


def _compress(h: list, block: bytes) -> list:
    """One 128-octet block (FIPS 180-4 §6.4.2)."""
    w = list(struct.unpack(">16Q", block))
    for t in range(16, 80):
        s0 = _rotr(w[t - 15], 1) ^ _rotr(w[t - 15], 8) ^ (w[t - 15] >> 7)
        s1 = _rotr(w[t - 2], 19) ^ _rotr(w[t - 2], 61) ^ (w[t - 2] >> 6)
        w.append((w[t - 16] + s0 + w[t - 7] + s1) & _MASK)
    a, b, c, d, e, f, g, hh = h
    for t in range(80):
        t1 = (hh + (_rotr(e, 14) ^ _rotr(e, 18) ^ _rotr(e, 41)) + ((e & f) ^ (~e & g)) + _K[t] + w[t]) & _MASK
        t2 = ((_rotr(a, 28) ^ _rotr(a, 34) ^ _rotr(a, 39)) + ((a & b) ^ (a & c) ^ (b & c))) & _MASK
        hh, g, f, e, d, c, b, a = g, f, e, (d + t1) & _MASK, c, b, a, (t1 + t2) & _MASK
    return [(x + y) & _MASK for x, y in zip(h, (a, b, c, d, e, f, g, hh))]


class SHA512_256:
    """Incremental, like hashlib's objects: ``update`` then ``hexdigest``; at most
    one block is buffered, so hashing a stream takes constant memory."""

    def __init__(self, data: bytes = b"") -> None:
        self._h = list(_IV)
        self._buffer = b""
        self._length = 0
        self.update(data)

    def update(self, data: bytes) -> None:
        self._length += len(data)
        buffer = self._buffer + data
        blocks = len(buffer) // 128 * 128
        h = self._h
        for offset in range(0, blocks, 128):
            h = _compress(h, buffer[offset:offset + 128])
        self._h = h
        self._buffer = buffer[blocks:]

    def hexdigest(self) -> str:
        length = self._length
        tail = self._buffer + b"\x80" + b"\x00" * ((111 - length) % 128) + (length * 8).to_bytes(16, "big")
        h = self._h
        for offset in range(0, len(tail), 128):
            h = _compress(h, tail[offset:offset + 128])
        return b"".join(x.to_bytes(8, "big") for x in h[:4]).hex()


def sha512_256_hexdigest(data: bytes) -> str:
    """Hex digest of SHA-512/256 over ``data``."""
    return SHA512_256(data).hexdigest()
