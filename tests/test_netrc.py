"""ChallengeAuth.from_netrc: netrc credentials per host, for any scheme."""

from __future__ import annotations

import pickle

import pytest
import requests

from requests_challenge import ChallengeAuth
from requests_challenge.testing import Basic, ChallengeServer, Digest

TIMEOUT = 10


@pytest.fixture
def netrc_file(tmp_path):
    def write(text: str):
        path = tmp_path / "netrc"
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        return path

    return write


def test_the_hosts_entry_answers_digest_the_strongest(netrc_file):
    path = netrc_file("machine 127.0.0.1 login alice password s3cret\n")
    with ChallengeServer(users={"alice": "s3cret"}, challenges=[Basic(), Digest("SHA-256")]) as server:
        r = requests.get(server.url + "/x", auth=ChallengeAuth.from_netrc(path), timeout=TIMEOUT)
        assert r.status_code == 200 and r.json()["user"] == "alice"
        assert r.json()["scheme"] == "Digest" and r.json()["algorithm"] == "SHA-256"


def test_netrc_environment_variable_names_the_file(netrc_file, monkeypatch):
    path = netrc_file("machine 127.0.0.1 login alice password s3cret\n")
    monkeypatch.setenv("NETRC", str(path))
    with ChallengeServer(users={"alice": "s3cret"}, challenges=[Digest()]) as server:
        auth = ChallengeAuth.from_netrc()
        assert requests.get(server.url, auth=auth, timeout=TIMEOUT).status_code == 200
    assert str(path) in repr(auth) and "s3cret" not in repr(auth)


def test_a_host_the_file_does_not_name_gets_nothing(netrc_file):
    path = netrc_file("machine elsewhere.example login alice password s3cret\n")
    with ChallengeServer(users={"alice": "s3cret"}, challenges=[Digest(), Basic()]) as server:
        r = requests.get(server.url + "/x", auth=ChallengeAuth.from_netrc(path), timeout=TIMEOUT)
        assert r.status_code == 401 and not r.history
        assert [e.authorization for e in server.exchanges] == [None]


def test_the_default_entry_covers_other_hosts(netrc_file):
    path = netrc_file("machine elsewhere.example login bob password x\ndefault login alice password s3cret\n")
    with ChallengeServer(users={"alice": "s3cret"}, challenges=[Digest()]) as server:
        assert requests.get(server.url, auth=ChallengeAuth.from_netrc(path), timeout=TIMEOUT).status_code == 200


def test_each_host_gets_its_own_entry(netrc_file):
    path = netrc_file("machine 127.0.0.1 login alice password one\nmachine localhost login bob password two\n")
    auth = ChallengeAuth.from_netrc(path)
    with ChallengeServer(users={"alice": "one", "bob": "two"}, challenges=[Digest()]) as server:
        assert requests.get(server.url, auth=auth, timeout=TIMEOUT).json()["user"] == "alice"
        other = server.url.replace("127.0.0.1", "localhost")
        r = requests.get(other, auth=auth, timeout=TIMEOUT)
        assert r.status_code == 200 and r.json()["user"] == "bob"


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no netrc file at"):
        ChallengeAuth.from_netrc(tmp_path / "absent")


def test_values_no_header_can_carry_are_refused_when_read(netrc_file):
    # netrc quoting lets a password carry a NUL through a literal in the file.
    path = netrc_file('machine h login alice password "a\x00b"\n')
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        ChallengeAuth.from_netrc(path)


def test_preemptive_basic_checks_every_entry_at_construction(netrc_file):
    path = netrc_file("machine h login dom:alice password p\n")
    with pytest.raises(ValueError, match="':'"):
        ChallengeAuth.from_netrc(path, preemptive_basic=True)
    assert ChallengeAuth.from_netrc(path).username is None


def test_pickle_keeps_the_table_and_forgets_the_spaces(netrc_file):
    path = netrc_file("machine 127.0.0.1 login alice password s3cret\n")
    with ChallengeServer(users={"alice": "s3cret"}, challenges=[Digest()]) as server:
        auth = ChallengeAuth.from_netrc(path)
        assert requests.get(server.url, auth=auth, timeout=TIMEOUT).status_code == 200
        copy = pickle.loads(pickle.dumps(auth))
        server.exchanges.clear()
        assert requests.get(server.url, auth=copy, timeout=TIMEOUT).status_code == 200
        assert [e.status for e in server.exchanges] == [401, 200]  # the copy starts with no space
