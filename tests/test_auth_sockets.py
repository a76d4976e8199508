"""ChallengeAuth over real sockets, against the embedded ChallengeServer on 127.0.0.1."""

import socket
import threading
from collections import Counter

import pytest
import requests

from requests_challenge import ChallengeAuth, parse_challenges
from requests_challenge.testing import Basic, ChallengeServer, Digest

USERS = {"alice": "secret", "Jäsøn": "Sëcret€"}


def sent_params(exchange):
    (credentials,) = parse_challenges(exchange.authorization)
    return credentials.params


@pytest.fixture
def session():
    with requests.Session() as s:
        s.trust_env = False  # no environment proxies between us and 127.0.0.1
        yield s


@pytest.mark.parametrize("username", sorted(USERS))
@pytest.mark.parametrize(
    "offer",
    [Digest("SHA-256"), Digest("MD5", qop=None), Digest("SHA-512-256-sess"), Digest("SHA-256", charset=True),
     Digest("SHA-256", userhash=True), Digest("MD5", qop="auth-int"), Basic(charset=True)],
    ids=repr,
)
def test_each_offer_is_answered(session, offer, username):
    with ChallengeServer(users=USERS, challenges=[offer]) as server:
        r = session.post(server.url + "/x", data=b"body", auth=ChallengeAuth(username, USERS[username]), timeout=10)
        assert r.status_code == 200, server.exchanges[-1].reason
        assert r.json()["user"] == username
        assert [e.status for e in server.exchanges] == [401, 200]


def test_strongest_of_several_lines_is_chosen(session):
    offers = [Digest("MD5"), Basic(), Digest("SHA-512-256"), Digest("SHA-256")]
    with ChallengeServer(users=USERS, challenges=offers) as server:
        r = session.get(server.url, auth=ChallengeAuth("alice", "secret"), timeout=10)
        assert r.json()["algorithm"] == "SHA-512-256"


def test_keep_alive_connection_is_reused_for_the_retry(session):
    with ChallengeServer(users=USERS, challenges=[Digest()]) as server:
        auth = ChallengeAuth("alice", "secret")
        for _ in range(3):
            assert session.get(server.url + "/k", auth=auth, timeout=10).status_code == 200
        pools = session.get_adapter(server.url).poolmanager.pools
        assert sum(pools[key].num_connections for key in pools.keys()) == 1
        assert len(server.exchanges) == 4  # N requests, N+1 exchanges


def test_redirect_to_another_origin_that_challenges_gets_no_credentials(session):
    with ChallengeServer(users=USERS, challenges=[Basic()]) as other, \
            ChallengeServer(users=USERS, challenges=[Digest()]) as origin:
        auth = ChallengeAuth("alice", "secret", preemptive_basic=True)
        r = session.get(f"{origin.url}/redirect?to={other.url}/landing", auth=auth, timeout=10)
        assert r.status_code == 401
        assert [e.authorization for e in other.exchanges] == [None]
        assert origin.exchanges[0].authorization.startswith("Basic ")  # the origin it was attached to


def test_expired_nonce_recovers_with_one_extra_exchange(session):
    with ChallengeServer(users=USERS, challenges=[Digest()]) as server:
        auth = ChallengeAuth("alice", "secret")
        session.get(server.url, auth=auth, timeout=10)
        server.expire_nonces()
        r = session.get(server.url, auth=auth, timeout=10)
        assert r.status_code == 200 and len(r.history) == 1
        assert [e.reason for e in server.exchanges][2] == "stale nonce"
        assert len(server.exchanges) == 4


def test_one_time_nonces_follow_nextnonce_without_extra_exchanges(session):
    with ChallengeServer(users=USERS, challenges=[Digest()], one_time_nonces=True) as server:
        auth = ChallengeAuth("alice", "secret")
        for _ in range(5):
            assert session.get(server.url, auth=auth, timeout=10).status_code == 200
        assert len(server.exchanges) == 6
        assert {sent_params(e)["nc"] for e in server.exchanges[1:]} == {"00000001"}


def test_cookie_on_the_challenge_comes_back(session):
    with ChallengeServer(users=USERS, challenges=[Digest()], cookie="sid=abc") as server:
        assert session.get(server.url, auth=ChallengeAuth("alice", "secret"), timeout=10).status_code == 200


def test_file_body_is_rewound_to_its_position(session, tmp_path):
    path = tmp_path / "upload.bin"
    path.write_bytes(b"HEADER|" + bytes(range(256)) * 64)
    with ChallengeServer(users=USERS, challenges=[Digest()]) as server, open(path, "rb") as upload:
        upload.seek(7)
        r = session.put(server.url + "/dav/file", data=upload, auth=ChallengeAuth("alice", "secret"), timeout=10)
        assert r.status_code == 200
        assert r.json()["body_length"] == 256 * 64


def test_stream_true_releases_the_401_connection(session):
    with ChallengeServer(users=USERS, challenges=[Digest()]) as server:
        r = session.get(server.url, auth=ChallengeAuth("alice", "secret"), stream=True, timeout=10)
        assert r.status_code == 200 and r.json()["user"] == "alice"


def test_wrong_password_costs_exactly_two_exchanges(session):
    with ChallengeServer(users=USERS, challenges=[Digest()]) as server:
        r = session.get(server.url, auth=ChallengeAuth("alice", "wrong"), timeout=10)
        assert r.status_code == 401 and len(server.exchanges) == 2


def test_threads_share_one_auth_without_failures_or_nc_reuse(session):
    threads, per_thread = 8, 50
    with ChallengeServer(users=USERS, challenges=[Digest()], strict_nc=True) as server:
        auth = ChallengeAuth("alice", "secret")
        session.get(server.url, auth=auth, timeout=10)  # one challenge, then all up front
        failures = []

        def work():
            for _ in range(per_thread):
                r = session.get(server.url + "/t", auth=auth, timeout=10)
                if r.status_code != 200:
                    failures.append(r.status_code)

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert not any(worker.is_alive() for worker in workers)
        assert failures == []
        sent = Counter((p["nonce"], p["nc"]) for p in map(sent_params, server.exchanges[1:]))
        assert max(sent.values()) == 1  # no nonce count used twice
        assert len(server.exchanges) == threads * per_thread + 2


def test_https_through_a_challenging_proxy_is_a_proxy_error_not_a_crash(session):
    """The 407 to CONNECT happens inside urllib3, before any hook: documented, not hidden."""

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.1)
    seen = []
    stop = threading.Event()

    def proxy():
        for _ in range(300):  # bounded: 30 s at most
            if stop.is_set():
                return
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            try:
                with conn:
                    conn.settimeout(5)
                    seen.append(conn.recv(4096))
                    conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                 b'Proxy-Authenticate: Digest realm="p", nonce="n", qop="auth"\r\n'
                                 b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass

    thread = threading.Thread(target=proxy, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    auth = ChallengeAuth("alice", "secret", proxy_auth=("puser", "ppass"))
    try:
        with pytest.raises(requests.exceptions.ProxyError) as excinfo:
            session.get("https://127.0.0.1:9/", auth=auth, proxies={"https": f"http://127.0.0.1:{port}"},
                        timeout=10)
        assert "407" in str(excinfo.value)
        assert seen and seen[0].startswith(b"CONNECT 127.0.0.1:9 ")
        assert b"Proxy-Authorization" not in seen[0] and b"Authorization" not in seen[0]
    finally:
        stop.set()
        thread.join(10)
        listener.close()
