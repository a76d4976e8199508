"""The challenge grammar of RFC 9110 §11, as real servers write it.

Productions (RFC 9110 §11.2-11.6, §5.6; the rules themselves are in `_abnf`):

    WWW-Authenticate = #challenge
    challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param       = token BWS "=" BWS ( token / quoted-string )
    token68          = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    quoted-string    = DQUOTE *( qdtext / quoted-pair ) DQUOTE

Challenges and their parameters share one comma-separated list, so an element is
a new challenge when it starts with a token followed by whitespace or a comma,
and a parameter of the current one when the token is followed by "=". A comma
right after the auth-scheme ends that challenge: its parameters would follow
1*SP, so in ``Basic, realm="foo"`` the challenge is ``Basic`` without parameters
and ``realm="foo"`` belongs to no challenge (an error); ``Basic , realm="foo"``
is Basic with its realm (an empty list element after 1*SP).

How it reads: a short header whose elements are all well-formed (the usual
case) is read by one ``findall``; otherwise a driver reads each run of
well-formed elements with one ``finditer`` match per element, and hands each
other element to the rule functions (`_auth_param_value`, `_quoted_string`,
`_ChallengeList.challenge`, ...), one per production, which say what is wrong
and where. Every pattern is linear (see `_abnf`); each element is read a bounded
number of times, and recovery stops after 64 errors or 128 challenges.

Lenient where real servers need it:
  - no space after commas, empty list elements, CR/LF/HTAB of folded lines as
    whitespace, upper-case scheme and parameter names;
  - unquoted values that are not tokens (``nonce=dOCOyDLiBQA=7fe7``);
  - ``realm=`` with no value reads as the empty string.
Strict where a guess could change meaning:
  - a parameter named twice in one challenge, an unterminated quoted string,
    control characters inside a value (they would be echoed into our own
    header), two parameters without a comma between them, a parameter after a
    challenge has ended.
A malformed challenge is dropped and the others are kept; only when nothing
usable is left does `parse_challenges` raise `ChallengeParseError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import AbstractSet, Dict, Iterable, List, Optional, Tuple, Union

from ._abnf import (
    ANY_QUOTED_BODY,
    AUTH_PARAM_ELEMENTS,
    AUTH_PARAM_HEAD,
    EQUALS_SIGNS,
    LIST_ELEMENT_OR_REST,
    LIST_ELEMENT_OR_STOP,
    LIST_GAP,
    QUOTED_STRING_BODY,
    REST_OF_ELEMENT,
    TOKEN,
    TOKEN68,
    TOKEN_OR_TOKEN68,
    UNQUOTED_VALUE,
    WHITESPACE,
)
from ._errors import ChallengeParseError

__all__ = [
    "Challenge",
    "ChallengeParseError",
    "parse_challenges",
    "parse_auth_params",
    "quote_string",
    "render_auth_params",
]

HeaderValue = Union[str, bytes, Iterable[Union[str, bytes]]]

# Schemes whose challenges are always auth-params, never token68 (RFC 7616, 7617).
_PARAM_ONLY_SCHEMES = frozenset({"basic", "digest"})
# Error recovery gives up after this many malformed elements (a 1 MiB header of
# "=," would otherwise take seconds); the challenges read before are kept.
_MAX_ERRORS = 64
# Real servers offer a handful of challenges; a header of thousands is an attack
# on our time, so the first ones are kept and the rest ignored.
_MAX_CHALLENGES = 128
# Up to this length a header is first read whole by one findall, whose list of
# elements is then this small; longer ones are read run by run, in constant memory.
_SHORT_HEADER = 2048


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


_new_object = object.__new__


def _challenge(scheme: str, params: Dict[str, str], token68: Optional[str] = None) -> Challenge:
    """``Challenge(scheme, params, token68)``, built as its generated ``__init__``
    would but without the ``object.__setattr__`` call per field that a frozen
    dataclass pays: a quarter of a microsecond less per challenge, of the four or
    so that a typical header takes to parse."""
    challenge = _new_object(Challenge)
    fields = challenge.__dict__
    fields["scheme"] = scheme
    fields["params"] = params
    fields["token68"] = token68
    return challenge


def quote_string(value: str) -> str:
    """RFC 9110 §5.6.4 quoted-string, escaping only ``"`` and ``\\``."""
    if '"' in value or "\\" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'


def render_auth_params(params: Iterable[Tuple[str, str]], tokens: AbstractSet[str] = frozenset()) -> str:
    """``name=value, ...`` (RFC 9110 §11.2 auth-params): the names in ``tokens`` bare when
    the value is a token (RFC 7616 writes those fields so), every other value quoted."""
    return ", ".join(
        f"{name}={value}" if name in tokens and TOKEN.fullmatch(value) else f"{name}={quote_string(value)}"
        for name, value in params
    )


def _unescape(body: str) -> str:
    """Undo the quoted-pairs of a quoted-string body that `QUOTED_STRING_BODY` matched.

    Three C-level passes instead of a regex substitution, whose template costs
    microseconds per pair: each "\\\\" pair (read left to right, as the pairs
    are) becomes a NUL, which such a body cannot contain; every backslash left
    starts a pair and is dropped; the NULs become backslashes.
    """
    return body.replace("\\\\", "\0").replace("\\", "").replace("\0", "\\")


# -- rule functions: one production each, read at the scanner's position -----------------


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
        self.pos = WHITESPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < self.end else ""

    def error(self, message: str) -> ChallengeParseError:
        return ChallengeParseError(message, self.pos)


def _quoted_string(scan: _Scanner) -> str:
    """quoted-string (RFC 9110 §5.6.4), its DQUOTE at ``pos``: the unescaped value."""
    start = scan.pos
    text = scan.text
    body = QUOTED_STRING_BODY.match(text, start + 1)
    end = body.end()  # type: ignore[union-attr]
    if text.startswith('"', end):
        scan.pos = end + 1
        value = body.group()  # type: ignore[union-attr]
        return _unescape(value) if "\\" in value else value
    if end >= scan.end or (text[end] == "\\" and end + 1 >= scan.end):
        # (or ends in a lone "\"): nothing after it to recover, so resume at the end.
        scan.pos = scan.end
        raise ChallengeParseError("unterminated quoted string", start)
    # Report the control character, but resume after this string's closing
    # quote, so recovery does not read the rest of the header out of phase.
    error = ChallengeParseError(
        "control character in quoted-pair" if text[end] == "\\"
        else f"control character {text[end]!r} in quoted string",
        end,
    )
    closing = ANY_QUOTED_BODY.match(text, end).end()  # type: ignore[union-attr]
    scan.pos = min(closing + 1, scan.end)
    raise error


def _auth_param_value(scan: _Scanner) -> str:
    """auth-param's value (RFC 9110 §11.2): quoted-string / token, or (lenient) any
    other run of visible characters, or nothing."""
    if scan.peek() == '"':
        return _quoted_string(scan)
    return scan.take(UNQUOTED_VALUE)


def _element_end(scan: _Scanner) -> None:
    """The end of a list element (RFC 9110 §5.6.1): OWS, then a comma or the end."""
    scan.skip_ows()
    char = scan.peek()
    if char == ",":
        scan.pos += 1
    elif char:
        raise scan.error(f"expected ',' between list elements, found {char!r}")


def _next_is_auth_param(scan: _Scanner) -> bool:
    """Look ahead, without consuming, for ``, token BWS =`` (empty elements allowed)."""
    saved = scan.pos
    try:
        scan.take(LIST_GAP)
        if not scan.take(TOKEN):
            return False
        scan.skip_ows()
        return scan.peek() == "="
    finally:
        scan.pos = saved


def _skip_element(scan: _Scanner) -> None:
    """Recover from an error: skip past the next comma outside quotes."""
    scan.pos = REST_OF_ELEMENT.match(scan.text, scan.pos).end()  # type: ignore[union-attr]


def _add_param(params: Dict[str, str], name: str, value: str, position: int) -> None:
    key = name.lower()
    if key in params:
        # RFC 9110 §11.2: each name only once; which one did the server mean?
        raise ChallengeParseError(f"parameter {key!r} given twice", position)
    params[key] = value


class _LimitReached(Exception):
    """More challenges than `_MAX_CHALLENGES`: stop reading (the error is recorded)."""


# -- the challenge list: #challenge ---------------------------------------------------------


class _ChallengeList:
    """What has been read of a challenge list so far, and the rules that extend it.

    ``params`` is the open challenge's (None when none is open: before the first,
    after one that ended with its token68 or a comma right after its scheme, or
    after one dropped for an error, which ``dropped`` says).
    """

    __slots__ = ("text", "challenges", "errors", "scheme", "params", "dropped")

    def __init__(self, text: str) -> None:
        self.text = text
        self.challenges: List[Challenge] = []
        self.errors: List[ChallengeParseError] = []
        self.scheme: Optional[str] = None  # the latest challenge's
        self.params: Optional[Dict[str, str]] = None
        self.dropped = False

    def read(self) -> Tuple[List[Challenge], List[ChallengeParseError]]:
        """The recovery driver: runs of well-formed elements, then one element by
        the rules; a malformed one is recorded, its challenge dropped, and reading
        resumes after its comma."""
        scan = _Scanner(self.text)
        after_error = False
        while True:
            scan.take(LIST_GAP)
            if scan.pos >= scan.end:
                break
            if not after_error:  # after an error, the next element goes to the rules at once:
                # a hostile header is mostly errors, where a run would stop straight away
                scan.pos = self.well_formed_run(scan.pos)
                if scan.pos >= scan.end:
                    break
            after_error = False
            try:
                self.element(scan)
            except _LimitReached:
                break
            except ChallengeParseError as exc:
                after_error = True
                self.errors.append(exc)
                if self.params is not None:
                    self.params, self.dropped = None, True
                if len(self.errors) >= _MAX_ERRORS:
                    break  # hostile, not quirky: stop rather than collect errors for seconds
                _skip_element(scan)
        self.end_challenge()
        return self.challenges, self.errors

    def well_formed_run(self, pos: int) -> int:
        """Read the well-formed elements at ``pos``, one finditer match each; return
        where they stop: the end, or the first element for `element` to read."""
        challenges = self.challenges
        params, scheme = self.params, self.scheme
        try:
            for match in LIST_ELEMENT_OR_STOP.finditer(self.text, pos):
                name, quoted, bare, new_scheme, first, first_quoted, first_bare, lone_scheme = match.groups()
                if name is not None:  # auth-param
                    if params is None:
                        return match.start()
                    key = name.lower()
                    if key in params:
                        return match.start()
                    params[key] = bare if quoted is None else _unescape(quoted) if "\\" in quoted else quoted
                elif new_scheme is not None or lone_scheme is not None:  # a challenge
                    if params is not None:
                        challenges.append(_challenge(scheme, params))  # type: ignore[arg-type]
                        params = None
                    if len(challenges) >= _MAX_CHALLENGES:
                        return match.start()
                    self.dropped = False
                    if lone_scheme is not None:
                        scheme = lone_scheme
                        challenges.append(_challenge(lone_scheme, {}))
                    else:
                        scheme = new_scheme
                        value = first_bare if first_quoted is None else (
                            _unescape(first_quoted) if "\\" in first_quoted else first_quoted)
                        params = {first.lower(): value}
                else:  # the empty alternative: no well-formed element here
                    return match.start()
            return len(self.text)  # not reached: the empty alternative matches at the end
        finally:
            self.params, self.scheme = params, scheme

    def element(self, scan: _Scanner) -> None:
        """One element `well_formed_run` did not take: an auth-param, or a challenge."""
        head = AUTH_PARAM_HEAD.match(scan.text, scan.pos)
        if head is not None:
            self.auth_param(scan, head)
        else:
            self.challenge(scan)

    def auth_param(self, scan: _Scanner, head: "re.Match[str]") -> None:
        """auth-param (RFC 9110 §11.2) of the open challenge: token BWS "=" BWS value."""
        start = scan.pos
        if self.params is None:
            if self.dropped:  # its challenge is dropped: skip its well-formed params
                scan.pos = AUTH_PARAM_ELEMENTS.match(scan.text, start).end()  # type: ignore[union-attr]
                if scan.pos > start:
                    return
                scan.pos = head.end()
                _auth_param_value(scan)  # still read, so that its errors are reported
                _element_end(scan)
                return
            if self.scheme is None:
                raise ChallengeParseError("parameter before any auth-scheme", start)
            # RFC 9110 §11.2: the challenge before it has ended, with its token68 or
            # with a comma right after its scheme (its parameters follow 1*SP).
            ended = "its token68" if self.challenges[-1].token68 is not None else "the comma right after it"
            raise ChallengeParseError(
                f"parameter {head.group(1).lower()!r} belongs to no challenge: {self.scheme!r} ended with {ended}",
                start,
            )
        scan.pos = head.end()
        _add_param(self.params, head.group(1), _auth_param_value(scan), start)
        _element_end(scan)

    def challenge(self, scan: _Scanner) -> None:
        """challenge (RFC 9110 §11.2): auth-scheme [ 1*SP ( token68 / #auth-param ) ]."""
        start = scan.pos
        scheme = scan.take(TOKEN_OR_TOKEN68)
        if not scheme:
            raise scan.error(f"expected a scheme or parameter name, found {scan.peek()!r}")
        after_scheme = scan.pos
        scan.skip_ows()
        if "/" in scheme or (scan.pos == after_scheme and scan.peek() not in (",", "")):
            raise ChallengeParseError(f"invalid auth-scheme {scheme!r}", start)
        self.start_challenge(scheme, start)
        if scan.peek() in (",", ""):
            if scan.pos == after_scheme:
                # A comma right after the scheme: no 1*SP, so no parameters (§11.2).
                self.end_challenge()
            _element_end(scan)
            return
        self.token68_or_auth_param(scan)

    def token68_or_auth_param(self, scan: _Scanner) -> None:
        """What follows a challenge's 1*SP: its token68, or the first of its #auth-param."""
        text = scan.text
        body_start = scan.pos
        head = AUTH_PARAM_HEAD.match(text, body_start)
        if head is not None and text[head.end():head.end() + 1] not in (",", "=", ""):
            # Unambiguously an auth-param: a value follows the "=".
            scan.pos = head.end()
            _add_param(self.params, head.group(1), _auth_param_value(scan), body_start)  # type: ignore[arg-type]
            _element_end(scan)
            return
        first = scan.take(TOKEN_OR_TOKEN68)
        if not first:
            raise scan.error(f"expected token68 or auth-param after {self.scheme!r}")
        scan.skip_ows()  # BWS before "="
        equals = scan.take(EQUALS_SIGNS)
        scan.skip_ows()
        at_end = scan.peek() in (",", "")
        empty_param = (
            len(equals) == 1
            and "/" not in first
            and (self.scheme.lower() in _PARAM_ONLY_SCHEMES or _next_is_auth_param(scan))  # type: ignore[union-attr]
        )
        if at_end and not empty_param:
            # token68; a lone "name=" is an empty value instead when more params
            # follow, or when the scheme never uses token68 (``Digest realm=``).
            if TOKEN68.fullmatch(first + equals) is None:
                raise ChallengeParseError(f"invalid token68 {first!r}", body_start)
            self.params = None
            self.challenges.append(_challenge(self.scheme, {}, first + equals))  # type: ignore[arg-type]
            _element_end(scan)
            return
        if not equals:
            raise scan.error(f"expected '=' after parameter name {first!r}")
        if len(equals) > 1 and not at_end:
            raise ChallengeParseError("'==' after parameter name", body_start)
        if "/" in first:
            raise ChallengeParseError(f"invalid parameter name {first!r}", body_start)
        _add_param(self.params, first, "" if at_end else _auth_param_value(scan), body_start)  # type: ignore[arg-type]
        _element_end(scan)

    def start_challenge(self, scheme: str, position: int) -> None:
        """End the open challenge; open one for ``scheme`` unless 128 are kept already."""
        self.end_challenge()
        if len(self.challenges) >= _MAX_CHALLENGES:
            self.errors.append(
                ChallengeParseError(f"more than {_MAX_CHALLENGES} challenges, the rest ignored", position))
            raise _LimitReached
        self.scheme, self.params, self.dropped = scheme, {}, False

    def end_challenge(self) -> None:
        if self.params is not None:
            self.challenges.append(_challenge(self.scheme, self.params))  # type: ignore[arg-type]
            self.params = None


def _read_short(text: str) -> Optional[List[Challenge]]:
    """A short header read whole by one findall, when every element is well-formed
    and needs no rule function (the usual case); None otherwise.

    It does what `_ChallengeList.well_formed_run` does over the same elements, with
    no positions to keep: whenever that one would stop, this one gives up and the
    driver reads the header instead.
    """
    challenges: List[Challenge] = []
    params: Optional[Dict[str, str]] = None
    scheme = ""
    start = LIST_GAP.match(text).end()  # type: ignore[union-attr]
    for name, quoted, bare, new_scheme, first, first_quoted, first_bare, lone_scheme in (
            LIST_ELEMENT_OR_REST.findall(text, start)):
        if name:  # auth-param
            if params is None:
                return None
            key = name.lower()
            if key in params:
                return None
            params[key] = (_unescape(quoted) if "\\" in quoted else quoted) if quoted else bare
        elif new_scheme:  # a challenge and its first auth-param
            if params is not None:
                challenges.append(_challenge(scheme, params))
            scheme = new_scheme
            params = {first.lower(): (_unescape(first_quoted) if "\\" in first_quoted else first_quoted)
                      if first_quoted else first_bare}
        elif lone_scheme:  # a challenge without parameters
            if params is not None:
                challenges.append(_challenge(scheme, params))
                params = None
            challenges.append(_challenge(lone_scheme, {}))
        else:  # the rest of the header, from an element only the rule functions read
            return None
    if params is not None:
        challenges.append(_challenge(scheme, params))
    return challenges if len(challenges) <= _MAX_CHALLENGES else None


def _parse(text: str) -> Tuple[List[Challenge], List[ChallengeParseError]]:
    """Parse a joined header value into good challenges and the errors met."""
    if len(text) <= _SHORT_HEADER:
        challenges = _read_short(text)
        if challenges is not None:
            return challenges, []
    return _ChallengeList(text).read()


# -- header values ------------------------------------------------------------------------


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


def _auth_param_run(text: str, pos: int, params: Dict[str, str]) -> int:
    """Read the well-formed auth-params at ``pos`` into ``params``, one finditer
    match each; return where they stop (at one that is not, or names one twice)."""
    for match in LIST_ELEMENT_OR_STOP.finditer(text, pos):
        name, quoted, bare, _, _, _, _, _ = match.groups()  # (groups() is quicker than group(1, 2, 3))
        if name is None:
            return match.start()
        key = name.lower()
        if key in params:
            return match.start()
        params[key] = bare if quoted is None else _unescape(quoted) if "\\" in quoted else quoted
    return len(text)  # not reached: the empty alternative matches at the end


def parse_auth_params(value: HeaderValue) -> Dict[str, str]:
    """The ``#auth-param`` list of Authentication-Info (RFC 9110 §11.6.3, RFC 7616 §3.5).

    Strict: any malformed element raises `ChallengeParseError`, since a
    half-read Authentication-Info cannot be trusted for mutual authentication.
    """
    text = _join(value)
    scan = _Scanner(text)
    params: Dict[str, str] = {}
    while True:
        scan.take(LIST_GAP)
        if scan.pos >= scan.end:
            return params
        scan.pos = _auth_param_run(text, scan.pos, params)
        if scan.pos >= scan.end:
            return params
        # This element is not well-formed, or names a parameter twice: say why.
        start = scan.pos
        name = scan.take(TOKEN)
        if not name:
            raise scan.error(f"expected a parameter name, found {scan.peek()!r}")
        scan.skip_ows()
        if scan.peek() != "=":
            raise scan.error(f"expected '=' after parameter name {name!r}")
        scan.pos += 1
        scan.skip_ows()
        _add_param(params, name, _auth_param_value(scan), start)
        _element_end(scan)
