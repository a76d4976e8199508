"""The rules of RFC 9110 that challenges are made of, named as in the RFC.

Each rule is the RFC's ABNF written once, as regular-expression source, beside the
section it comes from and under the RFC's name (``-`` spelled ``_``); every pattern
the package compiles is put together from these names, so that a reader can check
it against the RFC line by line (as h11's ``_abnf.py`` does for HTTP/1.1 messages).
Where the package reads more than the RFC allows, because real servers send it, the
difference is a rule of its own named ``lenient_...``, never an edit inside an RFC
rule:

    lenient_OWS, lenient_RWS, lenient_BWS
        SP and HTAB, and the CR and LF of an obs-fold (RFC 9112 §5.2) that a client
        left in the value instead of replacing the fold by SP;
    lenient_obs_text
        characters above U+00FF too, for header text that was decoded as UTF-8
        rather than one character per octet: each stands for its octets, all
        obs-text;
    lenient_value
        an auth-param value that is neither token nor quoted-string, as servers send
        base64 unquoted (``nonce=dOCOyDLiBQA=7fe7``), or no value at all
        (``realm=``).

Linear time, whatever a server sends. No pattern here can backtrack into
super-linear time (urllib's challenge regex could: CVE-2020-8492), because in every
one each character has one way to be matched:

  - a repeated character class is disjoint from whatever may follow it, so a run
    ends in one place only, and giving characters back never lets the rest match:
    a failed attempt retreats over what it read, failing at each step at once;
  - a repeated group begins with a character that the runs inside it cannot
    contain (the backslash of a quoted-pair), so its iterations cannot be split
    two ways: no quantifier is nested over classes that overlap;
  - alternatives part ways at one character (a DQUOTE or not; after a common
    token and whitespace: "=", a tchar, a comma or the end), and a common prefix
    is read again at most once per alternative: a constant.

So a match, or a failed attempt, reads each character a bounded number of times.
The element patterns that ``finditer`` and ``findall`` walk end in an alternative
that always matches (the empty string, or the rest of the text), so that they stop
at the first element they cannot read rather than search ahead and re-read.

``#challenge`` (the header itself) is not one pattern: a challenge's own
``#auth-param`` list uses the same commas, so a single pattern would have two ways
to read every empty list element. ``_grammar`` reads the list element by element.
"""

from __future__ import annotations

import re

__all__ = [
    "TOKEN",
    "TOKEN68",
    "tchar",
    "token",
    "OWS",
    "RWS",
    "BWS",
    "obs_text",
    "qdtext",
    "quoted_pair",
    "quoted_string",
    "auth_scheme",
    "token68",
    "auth_param",
    "challenge",
    "lenient_OWS",
    "lenient_RWS",
    "lenient_BWS",
    "lenient_obs_text",
    "lenient_quoted_string",
    "lenient_value",
]

# Members of character classes, to build classes from (each used inside [...] only).
_SP_HTAB = " \t"
_OBS_FOLD = r"\r\n"
_TCHARS = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_OBS_TEXT = r"\x80-\xff"
_WIDE_OBS_TEXT = r"\x80-\U0010ffff"  # lone surrogates are refused before parsing
_TOKEN68_CHARS = r"A-Za-z0-9\-._~+/"
# VCHAR and obs-text but the comma that ends a list element and the DQUOTE and
# backslash that begin quoted syntax: 0x21, 0x23-2B, 0x2D-5B, 0x5D-7E.
_VALUE_CHARS = rf"\x21\x23-\x2b\x2d-\x5b\x5d-\x7e{_WIDE_OBS_TEXT}"


# -- RFC 9110 §5.6.2 Tokens ------------------------------------------------------
#   token = 1*tchar
#   tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_"
#         / "`" / "|" / "~" / DIGIT / ALPHA
# ASCII only: no case folding can turn another character into a tchar.
tchar = f"[{_TCHARS}]"
token = f"{tchar}+"

# -- RFC 9110 §5.6.3 Whitespace --------------------------------------------------
#   OWS = *( SP / HTAB )
#   RWS = 1*( SP / HTAB )
#   BWS = OWS
SP = " "
OWS = f"[{_SP_HTAB}]*"
RWS = f"[{_SP_HTAB}]+"
BWS = OWS
# Lenient: obs-fold = OWS CRLF RWS (RFC 9112 §5.2) is to be replaced by SP; a
# client that keeps the CR LF hands it over inside the value, so they count too.
lenient_OWS = f"[{_SP_HTAB}{_OBS_FOLD}]*"
lenient_RWS = f"[{_SP_HTAB}{_OBS_FOLD}]+"
lenient_BWS = lenient_OWS

# -- RFC 9110 §5.5 Field values ----------------------------------------------------
#   obs-text = %x80-FF
obs_text = f"[{_OBS_TEXT}]"
# Lenient: any character above U+007F (see the module docstring).
lenient_obs_text = f"[{_WIDE_OBS_TEXT}]"


# -- RFC 9110 §5.6.4 Quoted strings ------------------------------------------------
#   quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
#   qdtext        = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
#   quoted-pair   = "\" ( HTAB / SP / VCHAR / obs-text )
def _qdtext(obs: str) -> str:
    return rf"[\t \x21\x23-\x5b\x5d-\x7e{obs}]"


def _quoted_pair(obs: str) -> str:
    return rf"\\[\t \x21-\x7e{obs}]"


def _between_quotes(qd: str, pair: str) -> str:
    """``*( qdtext / quoted-pair )`` unrolled: runs of qdtext between quoted-pairs.
    A pair starts with the backslash no qdtext is, so each character has one way."""
    return f"{qd}*(?:{pair}{qd}*)*"


qdtext = _qdtext(_OBS_TEXT)
quoted_pair = _quoted_pair(_OBS_TEXT)
quoted_string = f'"{_between_quotes(qdtext, quoted_pair)}"'
# Lenient: obs-text as lenient_obs_text. No control character but HTAB, in either.
lenient_qdtext = _qdtext(_WIDE_OBS_TEXT)
lenient_quoted_pair = _quoted_pair(_WIDE_OBS_TEXT)
lenient_quoted_string_body = _between_quotes(lenient_qdtext, lenient_quoted_pair)
lenient_quoted_string = f'"{lenient_quoted_string_body}"'

# -- RFC 9110 §11.1-11.2 Authentication ----------------------------------------------
#   auth-scheme = token
#   token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
#   auth-param  = token BWS "=" BWS ( token / quoted-string )
#   challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
# with (§5.6.1) #auth-param = [ auth-param ] *( OWS "," OWS [ auth-param ] ).
auth_scheme = token
token68 = f"[{_TOKEN68_CHARS}]+=*"
auth_param = f"{token}{BWS}={BWS}(?:{token}|{quoted_string})"
# The same language as the ABNF, written so that each character has one way to
# match: 1*SP takes every space, so a list that starts with an empty element starts
# at its comma; the OWS after a comma goes with the auth-param after it if there is
# one, else to the next comma, and the last OWS ends the list.
_more_auth_params = f"(?:{OWS},(?:{OWS}{auth_param})?)*{OWS}"
challenge = (
    f"{auth_scheme}(?:{SP}+(?:{token68}|{auth_param}{_more_auth_params}"
    f"|(?:,(?:{OWS}{auth_param})?{_more_auth_params})?))?"
)
# Lenient: a value that is neither token nor quoted-string, or empty (see above).
# token is part of it: one rule reads both.
lenient_value = f"[{_VALUE_CHARS}]*"


# -- What the package compiles ---------------------------------------------------------

#: token, for full-match checks: auth-schemes, parameter and header names.
TOKEN = re.compile(token)
#: token68, for full-match checks.
TOKEN68 = re.compile(token68)
# The longest run that may be a token or a token68 (whose "/" no tchar is), read
# whole so that an error names all of it: a challenge's second word may be either.
TOKEN_OR_TOKEN68 = re.compile(f"[{_TCHARS}/]+")
WHITESPACE = re.compile(lenient_OWS)
# Empty list elements and the whitespace around them (§5.6.1: a recipient accepts them).
LIST_GAP = re.compile(f"[{_SP_HTAB}{_OBS_FOLD},]*")
# The start of an auth-param: token BWS "=" BWS, the name captured.
AUTH_PARAM_HEAD = re.compile(f"({token}){lenient_BWS}={lenient_BWS}")
EQUALS_SIGNS = re.compile("=+")
# A quoted-string's body, up to (not including) its closing DQUOTE if it has one.
QUOTED_STRING_BODY = re.compile(lenient_quoted_string_body)
UNQUOTED_VALUE = re.compile(f"[{_VALUE_CHARS}]+")


def _list_elements(capture: bool) -> "tuple[str, str, str]":
    """The three well-formed elements of a challenge list, each with the delimiters after it.

    All start with a token (so each is tried once per element): an auth-param of
    the challenge being read; a challenge's auth-scheme, 1*SP and its first
    auth-param; an auth-scheme alone, ended by a comma right after it (RFC 9110
    §11.2: parameters follow a scheme after a space) or by the end. With
    ``capture``, their groups are (name, quoted-string body, other value), (scheme,
    name, body, value) and (scheme). Anything else (a token68, ``Basic , realm=``,
    a first parameter without a value, a malformed element) is for the rule
    functions in ``_grammar``.
    """
    g = "(" if capture else "(?:"
    value = f'(?:"{g}{lenient_quoted_string_body})"|{g}{lenient_value}))'
    # A challenge's first value is not empty and starts with no "=": else the words
    # after the scheme may be a token68 ("Negotiate abc=", "Basic abc==").
    first_value = f'(?:"{g}{lenient_quoted_string_body})"|{g}(?!=)[{_VALUE_CHARS}]+))'
    comma_or_end = f"(?:,[{_SP_HTAB}{_OBS_FOLD},]*|\\Z)"
    auth_param_element = f"{g}{token}){lenient_BWS}={lenient_BWS}{value}{lenient_OWS}{comma_or_end}"
    challenge_element = (
        f"{g}{auth_scheme}){lenient_RWS}{g}{token}){lenient_BWS}={lenient_BWS}{first_value}"
        f"{lenient_OWS}{comma_or_end}"
    )
    lone_scheme_element = f"{g}{auth_scheme})(?:,[{_SP_HTAB}{_OBS_FOLD},]*|{lenient_OWS}\\Z)"
    return auth_param_element, challenge_element, lone_scheme_element


_LIST_ELEMENT = "|".join(_list_elements(capture=True))
# finditer over a run of elements: the empty alternative matches where no element
# does, so the run stops there (its groups all None) instead of searching ahead.
LIST_ELEMENT_OR_STOP = re.compile(_LIST_ELEMENT + "|")
# findall over a whole short header: the last alternative takes the rest of the
# text from the first element it cannot read (its groups all empty).
LIST_ELEMENT_OR_REST = re.compile(_LIST_ELEMENT + r"|[\s\S]+")
# The well-formed auth-params of a challenge that was dropped, skipped in one match.
AUTH_PARAM_ELEMENTS = re.compile(f"(?:{_list_elements(capture=False)[0]})*")

# -- Error recovery (not RFC rules) ---------------------------------------------------
# A quoted-string's body with anything in it (control characters too), up to its
# closing DQUOTE or the end: where to resume after a string that broke a rule.
ANY_QUOTED_BODY = re.compile(r'[^"\\]*(?:\\[\s\S][^"\\]*)*')
# The rest of a malformed element: up to and past the next comma outside quotes.
REST_OF_ELEMENT = re.compile(r'[^",]*(?:"[^"\\]*(?:\\[\s\S][^"\\]*)*(?:"|\\?\Z)[^",]*)*,?')
