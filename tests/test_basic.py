"""RFC 7617 Basic credentials."""

import base64

import pytest

from requests_challenge._basic import basic_authorization, reject_control_characters


def test_rfc7617_section_2_example():
    assert basic_authorization("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="


def test_rfc7617_section_2_1_example_is_utf8():
    assert basic_authorization("test", "123\u00a3") == "Basic dGVzdDoxMjPCow=="


def test_latin_1_encoding_for_legacy_servers():
    assert basic_authorization("test", "123\u00a3", encoding="latin-1") == "Basic dGVzdDoxMjOj"


@pytest.mark.parametrize("charset", ["UTF-8", "utf-8", "Utf-8"])
def test_charset_utf8_overrides_latin_1(charset):
    assert basic_authorization("test", "123\u00a3", encoding="latin-1", charset=charset) == "Basic dGVzdDoxMjPCow=="


def test_other_charset_leaves_the_encoding_alone():
    assert basic_authorization("test", "123\u00a3", encoding="latin-1", charset="ISO-8859-1") == "Basic dGVzdDoxMjOj"


def test_latin_1_falls_back_to_utf8_for_what_it_cannot_encode():
    expected = "Basic " + base64.b64encode("user:5\u20ac".encode("utf-8")).decode("ascii")
    assert basic_authorization("user", "5\u20ac", encoding="latin-1") == expected
    # and the fallback is UTF-8 for the whole pair, not only the failing part
    expected = "Basic " + base64.b64encode("\u00e9:\u20ac".encode("utf-8")).decode("ascii")
    assert basic_authorization("\u00e9", "\u20ac", encoding="latin-1") == expected


def test_password_may_contain_colons_and_be_empty():
    assert basic_authorization("u", "a:b:c") == "Basic " + base64.b64encode(b"u:a:b:c").decode()
    assert basic_authorization("u", "") == "Basic dTo="
    assert basic_authorization("", "") == "Basic Og=="


def test_colon_in_username_is_refused():
    with pytest.raises(ValueError, match="':'"):
        basic_authorization("do:main", "pw")


@pytest.mark.parametrize("bad", ["\r", "\n", "\x00", "\r\nX-Injected: yes"])
@pytest.mark.parametrize("field", ["username", "password"])
def test_cr_lf_nul_refused_without_echoing_the_secret(field, bad):
    secret = "hunter2-s3cr3t" + bad + "tail-s3cr3t"
    kwargs = {"username": "user", "password": "pw", field: secret}
    with pytest.raises(ValueError) as info:
        basic_authorization(**kwargs)
    message = str(info.value)
    assert field in message
    assert "s3cr3t" not in message
    assert "hunter2" not in message
    assert "s3cr3t" not in repr(info.value)


def test_reject_control_characters_names_the_field():
    reject_control_characters("fine\tvalue with spaces", "password")  # HTAB is not CR/LF/NUL
    with pytest.raises(ValueError, match="^password contains"):
        reject_control_characters("x\ny", "password")
    with pytest.raises(TypeError, match="password must be str, not bytes"):
        reject_control_characters(b"x", "password")  # type: ignore[arg-type]


def test_non_str_credentials_are_type_errors():
    with pytest.raises(TypeError):
        basic_authorization(b"user", "pw")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        basic_authorization("user", None)  # type: ignore[arg-type]
