"""The challenge grammar of RFC 9110 §11, as real servers write it.

Productions (RFC 9110 §11.2-11.6, §5.6):

    WWW-Authenticate = #challenge
    challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param       = token BWS "=" BWS ( token / quoted-string )
    token68          = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    quoted-string    = DQUOTE *( qdtext / quoted-pair ) DQUOTE

Challenges and their parameters share one comma-separated list, so an element is
a new challenge when it starts with a token followed by whitespace or a comma,
and a parameter of the current one when the token is followed by "=".

The scanner is hand-written and linear: it only ever moves forward, and the
regular expressions it uses are anchored at the current position and built so
that each character can be matched in one way only (runs of character classes,
each disjoint from what may follow it), so they cannot backtrack (urllib's
challenge regex could: CVE-2020-8492). Runs of well-formed parameters are read
with one match per element; any other element goes through the scanner, which
reads it once more at most; recovery stops after 64 errors or 128 challenges.

Lenient where real servers need it:
  - no space after commas, empty list elements, CR/LF/HTAB of folded lines as
    whitespace, upper-case scheme and parameter names;
  - unquoted values that are not tokens (``nonce=dOCOyDLiBQA=7fe7``);
  - ``realm=`` with no value reads as the empty string.
Strict where a guess could change meaning:
  - a parameter named twice in one challenge, an unterminated quoted string,
    control characters inside a value (they would be echoed into our own
    header), two parameters without a comma between them.
A malformed challenge is dropped and the others are kept; only when nothing
usable is left does `parse_challenges` raise `ChallengeParseError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple, Union

from ._errors import ChallengeParseError

__all__ = [
    "Challenge",
    "ChallengeParseError",
    "parse_challenges",
    "parse_auth_params",
    "quote_string",
]

HeaderValue = Union[str, bytes, Iterable[Union[str, bytes]]]

# Every pattern below is a chain of character-class runs and literals in which
# each character has exactly one way to be matched: a run's class is disjoint from
# whatever may follow it, alternatives differ in their first character (or, for
# the empty one that ends _PARAM_ELEMENT_OR_STOP, match only where the others do
# not), and a backslash always starts a two-character pair that no run contains.
# So a match reads each character once, and a failed attempt only retreats over
# what it read without ever finding a second way to match: none of them can
# backtrack into super-linear time (urllib's challenge regex could: CVE-2020-8492).
_TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"  # RFC 9110 §5.6.2; ASCII only, so no case folding
_WS = r" \t\r\n"  # OWS = *( SP / HTAB ) (§5.6.3); CR and LF too, left over from obs-fold
_CTL = r"\x00-\x08\x0a-\x1f\x7f"  # control characters but HTAB
# quoted-string body (§5.6.4): qdtext runs, each quoted-pair a backslash and one
# HTAB, SP, VCHAR or obs-text. It stops before the closing '"', if any.
_QUOTED_BODY_RE = rf'[^"\\{_CTL}]*(?:\\[^{_CTL}][^"\\{_CTL}]*)*'
# A lenient unquoted value: anything visible but the list and quote delimiters.
_BARE_CHAR = r'[^\x00-\x20\x7f",\\]'


def _param_element_re(group: str) -> str:
    """One well-formed auth-param element and the list delimiters after it:
    token BWS "=" BWS ( quoted-string / bare value ) OWS ( "," *( OWS / "," ) / end ).

    ``group`` is "(" to capture the name, the quoted body and the bare value (in
    that order, one of the last two unset), or "(?:" not to.
    """
    return (
        rf'{group}[{_TCHAR}]+)[{_WS}]*=[{_WS}]*(?:"{group}{_QUOTED_BODY_RE})"|{group}{_BARE_CHAR}*))'
        rf'[{_WS}]*(?:,[{_WS},]*|\Z)'
    )


_TOKEN = re.compile(rf"[{_TCHAR}]+")
# token68 adds "/" (and trailing "="), which is not a tchar.
_TOKEN68_BODY = re.compile(r"[A-Za-z0-9\-._~+/]+")
# The start of an auth-param element, token BWS "=" BWS.
_PARAM_HEAD = re.compile(rf"([{_TCHAR}]+)[{_WS}]*=[{_WS}]*")
_TOKEN_OR_TOKEN68 = re.compile(rf"[{_TCHAR}/]+")
_EQUALS = re.compile(r"=+")
_OWS = re.compile(rf"[{_WS}]*")
_BARE_VALUE = re.compile(f"{_BARE_CHAR}+")
_QUOTED_BODY = re.compile(_QUOTED_BODY_RE)
# Whitespace and empty list elements between elements (RFC 9110 §5.6.1).
_GAP = re.compile(rf"[{_WS},]*")
# Runs of well-formed auth-params are read by one match per element (names and
# values in groups 1-3; the empty alternative matches where an element is not
# well-formed, so that finditer stops there instead of searching ahead), and
# skipped by one match in all when their challenge is already dropped; anything
# else goes through the scanner, element by element.
_PARAM_ELEMENT_OR_STOP = re.compile(_param_element_re("(") + "|")
_PARAM_ELEMENTS = re.compile(f"(?:{_param_element_re('(?:')})*")
# Error recovery: any quoted body (control characters too), up to its closing
# quote or the end; and everything up to and past the next comma outside quotes.
_ANY_QUOTED_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
_SKIP_ELEMENT = re.compile(r'[^",]*(?:"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)[^",]*)*,?', re.DOTALL)
# Schemes whose challenges are always auth-params, never token68 (RFC 7616, 7617).
_PARAM_ONLY_SCHEMES = frozenset({"basic", "digest"})
# Error recovery gives up after this many malformed elements (a 1 MiB header of
# "=," would otherwise take seconds); the challenges read before are kept.
_MAX_ERRORS = 64
# Real servers offer a handful of challenges; a header of thousands is an attack
# on our time, so the first ones are kept and the rest ignored.
_MAX_CHALLENGES = 128


@dataclass(frozen=True)
class Challenge:
    """One challenge as the server sent it.

    ``scheme`` keeps the server's spelling; ``params`` has lower-cased names and
    unquoted, unescaped values; ``token68`` is set only for the token68 form.
    Values are header text: one character per octet received (ISO-8859-1), as
    http.client decodes headers.
    """

    scheme: str
    params: Dict[str, str] = field(default_factory=dict)
    token68: Optional[str] = None

    def __str__(self) -> str:
        """Render back to header syntax; ``parse_challenges(str(c)) == [c]``."""
        if self.token68 is not None:
            return f"{self.scheme} {self.token68}"
        if not self.params:
            return self.scheme
        rendered = ", ".join(f"{name}={quote_string(value)}" for name, value in self.params.items())
        return f"{self.scheme} {rendered}"


def quote_string(value: str) -> str:
    """RFC 9110 §5.6.4 quoted-string, escaping only ``"`` and ``\\``."""
    if '"' in value or "\\" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'


class _Scanner:
    """Position-tracking reader over one header value; every step moves forward."""

    __slots__ = ("text", "pos", "end")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.end = len(text)

    def take(self, pattern: "re.Pattern[str]") -> str:
        match = pattern.match(self.text, self.pos)
        if match is None:
            return ""
        self.pos = match.end()
        return match.group()

    def skip_ows(self) -> None:
        self.pos = _OWS.match(self.text, self.pos).end()  # type: ignore[union-attr]

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < self.end else ""

    def error(self, message: str) -> ChallengeParseError:
        return ChallengeParseError(message, self.pos)

    def quoted_string(self) -> str:
        """Read a quoted-string whose opening quote is at ``pos``; unescape it."""
        start = self.pos
        body = _QUOTED_BODY.match(self.text, start + 1)
        end = body.end()  # type: ignore[union-attr]
        if self.text.startswith('"', end):
            self.pos = end + 1
            value = body.group()  # type: ignore[union-attr]
            return _unescape(value) if "\\" in value else value
        if end >= self.end or (self.text[end] == "\\" and end + 1 >= self.end):
            # (or ends in a lone "\"): nothing after it to recover, so resume at the end.
            self.pos = self.end
            raise ChallengeParseError("unterminated quoted string", start)
        # Report the control character, but resume after this string's closing
        # quote, so recovery does not read the rest of the header out of phase.
        error = ChallengeParseError(
            "control character in quoted-pair" if self.text[end] == "\\"
            else f"control character {self.text[end]!r} in quoted string",
            end,
        )
        closing = _ANY_QUOTED_BODY.match(self.text, end).end()  # type: ignore[union-attr]
        self.pos = min(closing + 1, self.end)
        raise error

    def value(self) -> str:
        """auth-param value: quoted-string, token, or (lenient) a bare run."""
        if self.peek() == '"':
            return self.quoted_string()
        return self.take(_BARE_VALUE)

    def end_of_element(self) -> None:
        """After an element only OWS, then a comma or the end, may follow."""
        self.skip_ows()
        char = self.peek()
        if char == ",":
            self.pos += 1
        elif char:
            raise self.error(f"expected ',' between list elements, found {char!r}")

    def skip_element(self) -> None:
        """Recover from an error: skip past the next comma outside quotes."""
        self.pos = _SKIP_ELEMENT.match(self.text, self.pos).end()  # type: ignore[union-attr]

    def next_is_auth_param(self) -> bool:
        """Look ahead, without consuming, for ``, token BWS =`` (empty elements allowed)."""
        saved = self.pos
        try:
            self.take(_GAP)
            if not self.take(_TOKEN):
                return False
            self.skip_ows()
            return self.peek() == "="
        finally:
            self.pos = saved


def _unescape(body: str) -> str:
    """Undo the quoted-pairs of a quoted-string body that `_QUOTED_BODY` matched.

    Three C-level passes instead of a regex substitution, whose template costs
    microseconds per pair: each "\\\\" pair (read left to right, as the pairs
    are) becomes a NUL, which such a body cannot contain; every backslash left
    starts a pair and is dropped; the NULs become backslashes.
    """
    return body.replace("\\\\", "\0").replace("\\", "").replace("\0", "\\")


def _read_params(text: str, pos: int, params: Dict[str, str], broken: bool) -> int:
    """Read the well-formed auth-param elements at ``pos`` into ``params``; return where they stop.

    The scanner takes over at the returned position: at the first element that is
    not well-formed, or that names a parameter twice (so that it reports it). The
    parameters of a dropped (``broken``) challenge are only skipped.
    """
    if broken:
        return _PARAM_ELEMENTS.match(text, pos).end()  # type: ignore[union-attr]
    for match in _PARAM_ELEMENT_OR_STOP.finditer(text, pos):
        name, quoted, bare = match.groups()
        if name is None:  # the empty alternative: not an element (or the end)
            return match.start()
        key = name.lower()
        if key in params:
            return match.start()
        if quoted is None:
            params[key] = bare
        else:
            params[key] = _unescape(quoted) if "\\" in quoted else quoted
    return len(text)  # not reached: the empty alternative matches at the end


def _join(value: HeaderValue) -> str:
    """Several header lines mean the same as one line joined by commas (RFC 9110 §5.3)."""
    if isinstance(value, str):
        return _octets_only(value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    try:
        parts = [v.decode("latin-1") if isinstance(v, bytes) else v for v in value]
    except TypeError:
        raise ChallengeParseError(f"expected a header value, got {type(value).__name__}") from None
    if not all(isinstance(p, str) for p in parts):
        raise ChallengeParseError("expected header values as str or bytes")
    return _octets_only(", ".join(parts))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _octets_only(text: str) -> str:
    """Header text is octets (one character each, or UTF-8 for wider text): a lone
    surrogate is neither, and nothing computed from it could be sent."""
    if not text.isascii():
        found = _SURROGATE.search(text)
        if found is not None:
            raise ChallengeParseError("a lone surrogate, which no header can carry", found.start())
    return text


def _parse(text: str) -> Tuple[List[Challenge], List[ChallengeParseError]]:
    """Parse a joined header value into good challenges and the errors met."""
    scan = _Scanner(text)
    challenges: List[Challenge] = []
    errors: List[ChallengeParseError] = []
    current: Optional[Dict[str, str]] = None  # params of the challenge being read
    scheme = ""
    broken = False  # the current challenge had an error: drop its remaining params

    def finish() -> None:
        if current is not None and not broken:
            challenges.append(Challenge(scheme, current))

    while True:
        scan.take(_GAP)
        if scan.pos >= scan.end:
            break
        if len(challenges) >= _MAX_CHALLENGES:
            errors.append(ChallengeParseError(f"more than {_MAX_CHALLENGES} challenges, the rest ignored", scan.pos))
            current = None
            break
        element_start = scan.pos
        try:
            head = _PARAM_HEAD.match(text, element_start)
            if head is not None:
                # auth-param of the current challenge: token BWS "=" BWS value.
                if current is None:
                    raise ChallengeParseError("parameter before any auth-scheme", element_start)
                scan.pos = _read_params(text, element_start, current, broken)
                if scan.pos > element_start:
                    continue
                scan.pos = head.end()
                _add_param(current, head.group(1), scan.value(), element_start, broken)
                scan.end_of_element()
                continue
            word = scan.take(_TOKEN_OR_TOKEN68)
            if not word:
                raise scan.error(f"expected a scheme or parameter name, found {scan.peek()!r}")
            after_word = scan.pos
            scan.skip_ows()
            if "/" in word or (scan.pos == after_word and scan.peek() not in (",", "")):
                raise ChallengeParseError(f"invalid auth-scheme {word!r}", element_start)
            # A new challenge starts here.
            finish()
            scheme, current, broken = word, {}, False
            if scan.peek() in (",", ""):
                scan.end_of_element()
                continue
            # 1*SP then token68 or the first auth-param.
            body_start = scan.pos
            head = _PARAM_HEAD.match(text, body_start)
            if head is not None and text[head.end():head.end() + 1] not in (",", "=", ""):
                # Unambiguously an auth-param: a value follows the "=".
                scan.pos = _read_params(text, body_start, current, False)
                if scan.pos > body_start:
                    continue
                scan.pos = head.end()
                _add_param(current, head.group(1), scan.value(), body_start, broken)
                scan.end_of_element()
                continue
            first = scan.take(_TOKEN_OR_TOKEN68)
            if not first:
                raise scan.error(f"expected token68 or auth-param after {scheme!r}")
            scan.skip_ows()  # BWS before "="
            equals = scan.take(_EQUALS)
            scan.skip_ows()
            at_end = scan.peek() in (",", "")
            empty_param = (
                len(equals) == 1
                and "/" not in first
                and (scheme.lower() in _PARAM_ONLY_SCHEMES or scan.next_is_auth_param())
            )
            if at_end and not empty_param:
                # token68; a lone "name=" is an empty value instead when more params
                # follow, or when the scheme never uses token68 (``Digest realm=``).
                if _TOKEN68_BODY.fullmatch(first) is None:
                    raise ChallengeParseError(f"invalid token68 {first!r}", body_start)
                challenges.append(Challenge(scheme, {}, first + equals))
                current = None
                scan.end_of_element()
                continue
            if not equals:
                raise scan.error(f"expected '=' after parameter name {first!r}")
            if len(equals) > 1 and scan.peek() not in (",", ""):
                raise ChallengeParseError("'==' after parameter name", body_start)
            if "/" in first:
                raise ChallengeParseError(f"invalid parameter name {first!r}", body_start)
            _add_param(current, first, "" if at_end else scan.value(), body_start, broken)
            scan.end_of_element()
        except ChallengeParseError as exc:
            errors.append(exc)
            broken = current is not None
            if len(errors) >= _MAX_ERRORS:
                break  # hostile, not quirky: stop rather than collect errors for seconds
            scan.skip_element()
    finish()
    return challenges, errors


def _add_param(params: Dict[str, str], name: str, value: str, position: int, broken: bool) -> None:
    key = name.lower()
    if key in params and not broken:
        # RFC 9110 §11.2: each name only once; which one did the server mean?
        raise ChallengeParseError(f"parameter {key!r} given twice", position)
    params[key] = value


def parse_challenges(value: HeaderValue) -> List[Challenge]:
    """Every challenge in a WWW-Authenticate or Proxy-Authenticate value, in order.

    ``value`` is one header value or a list of them (several header lines).
    Malformed challenges are dropped when others are fine; when none is left,
    `ChallengeParseError` says where the first problem was.
    """
    challenges, errors = _parse(_join(value))
    if errors and not challenges:
        raise errors[0]
    return challenges


def parse_challenges_lenient(value: HeaderValue) -> Tuple[List[Challenge], List[ChallengeParseError]]:
    """Like `parse_challenges`, but hands back the errors instead of raising."""
    try:
        text = _join(value)
    except ChallengeParseError as exc:  # not header text at all: nothing to keep
        return [], [exc]
    return _parse(text)


def parse_auth_params(value: HeaderValue) -> Dict[str, str]:
    """The ``#auth-param`` list of Authentication-Info (RFC 9110 §11.6.3, RFC 7616 §3.5).

    Strict: any malformed element raises `ChallengeParseError`, since a
    half-read Authentication-Info cannot be trusted for mutual authentication.
    """
    text = _join(value)
    scan = _Scanner(text)
    params: Dict[str, str] = {}
    while True:
        scan.take(_GAP)
        if scan.pos >= scan.end:
            return params
        start = scan.pos
        scan.pos = _read_params(text, start, params, False)  # well-formed elements at once
        if scan.pos > start:
            continue
        # This element is not well-formed, or names a parameter twice: say why.
        name = scan.take(_TOKEN)
        if not name:
            raise scan.error(f"expected a parameter name, found {scan.peek()!r}")
        scan.skip_ows()
        if scan.peek() != "=":
            raise scan.error(f"expected '=' after parameter name {name!r}")
        scan.pos += 1
        scan.skip_ows()
        _add_param(params, name, scan.value(), start, False)
        scan.end_of_element()
