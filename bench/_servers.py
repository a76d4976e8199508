"""The servers the benchmark talks to: lighttpd when installed, else the embedded one.

lighttpd is started through the integration fixtures' own machinery
(tests/integration/servers.py: private config dir, free port on 127.0.0.1,
stopped by PID), imported by file path and only subclassed here, to raise the
keep-alive limits. Its access log counts the exchanges.

Without lighttpd, `requests_challenge.testing.ChallengeServer` runs in a child
process (python bench/_servers.py), so that its Python request handling does
not share the client's GIL; exchanges are then counted on the client, from
each response and its history.

Both serve the same three locations:

    /open/hello.txt     no protection (the no-auth baseline)
    /sha256/hello.txt   Digest, algorithm=SHA-256, qop=auth
    /basic/hello.txt    Basic
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "integration" / "servers.py"

USER, PASSWORD = "alice", "secret"

# Keep every connection open for the whole run: thousands of requests on one
# connection, and minutes of idleness while the other contenders take turns.
KEEP_ALIVE = """
server.max-keep-alive-requests = 100000
server.max-keep-alive-idle = 300
server.max-read-idle = 300
server.max-write-idle = 300
"""


def _load_fixtures():
    """tests/integration/servers.py as a module, or None (it is never edited here)."""
    if not FIXTURES.exists():
        return None
    spec = importlib.util.spec_from_file_location("_rc_integration_servers", FIXTURES)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
    except Exception:  # noqa: BLE001 - a fixture module in flux must not stop the benchmark
        del sys.modules[spec.name]
        return None
    return module


class BenchServer:
    """What a measurement needs: three URLs, and a way to count exchanges."""

    kind = "?"
    description = "?"
    counts_on_server = False

    def url(self, location: str) -> str:  # location: "open", "sha256" or "basic"
        raise NotImplementedError

    def count(self, action: Callable[[], object]) -> Tuple[object, Optional[List[int]]]:
        """Run ``action``; also return the statuses the server logged meanwhile, if it can."""
        return action(), None

    def stop(self) -> None:
        raise NotImplementedError


class LighttpdServer(BenchServer):
    kind = "lighttpd"
    counts_on_server = True

    def __init__(self, fixtures) -> None:
        base = fixtures.Lighttpd

        class BenchLighttpd(base):  # type: ignore[misc, valid-type]
            def write_files(self, *args: object) -> None:
                super().write_files(*args)  # the fixtures' own files and lighttpd.conf ...
                with open(self.conf_path, "a", encoding="utf-8") as conf:
                    conf.write(KEEP_ALIVE)  # ... plus the keep-alive limits

        self._tmp = tempfile.TemporaryDirectory(prefix="rc-bench-")
        self._server = BenchLighttpd(Path(self._tmp.name) / "lighttpd")
        self._server.start()
        version = subprocess.run(
            [fixtures.find_program("lighttpd"), "-v"], capture_output=True, text=True, timeout=30
        ).stdout.strip().splitlines()[0]
        self.description = (
            f"{version.split(' - ')[0]} on 127.0.0.1:{self._server.port} (keep-alive; "
            "exchanges counted from its access log)"
        )
        self.users = fixtures.USERS

    def url(self, location: str) -> str:
        return self._server.url(f"/{location}/hello.txt")

    def count(self, action: Callable[[], object]) -> Tuple[object, Optional[List[int]]]:
        mark = self._server.log.mark()
        result = action()
        return result, self._server.log.statuses_since(mark)

    def stop(self) -> None:
        try:
            self._server.stop()
        finally:
            self._tmp.cleanup()


class EmbeddedServer(BenchServer):
    """Two ChallengeServers (Digest SHA-256, Basic) in one child process."""

    kind = "embedded"

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(10)
            raise RuntimeError("the embedded ChallengeServer did not start")
        self._ports = json.loads(line)
        self.description = (
            "embedded requests_challenge.testing.ChallengeServer (stdlib threads, in a child process; "
            "exchanges counted on the client)"
        )

    def url(self, location: str) -> str:
        port = self._ports["basic" if location == "basic" else "digest"]
        return f"http://127.0.0.1:{port}/{location}/hello.txt"

    def stop(self) -> None:
        proc = self._proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def lighttpd_missing() -> Optional[str]:
    """Why lighttpd cannot be used here, or None."""
    fixtures = _load_fixtures()
    if fixtures is None:
        return f"{FIXTURES.relative_to(ROOT)} is not importable"
    return fixtures.Lighttpd.missing()


def start_server(choice: str = "auto") -> Tuple[BenchServer, str]:
    """The server to measure against, and why it was chosen."""
    if choice in ("auto", "lighttpd"):
        fixtures = _load_fixtures()
        reason = lighttpd_missing()
        if reason is None:
            try:
                return LighttpdServer(fixtures), "lighttpd is installed"
            except Exception as exc:  # noqa: BLE001
                if choice == "lighttpd":
                    raise
                reason = f"lighttpd did not start: {exc}".splitlines()[0]
        elif choice == "lighttpd":
            raise SystemExit(f"--server lighttpd: {reason}")
        return EmbeddedServer(), f"fallback: {reason}"
    return EmbeddedServer(), "chosen with --server embedded"


def _serve_forever() -> None:
    """Child process: run the embedded servers until SIGTERM or stdin closes."""
    sys.path.insert(0, str(ROOT))
    from requests_challenge.testing import Basic, ChallengeServer, Digest

    users = {USER: PASSWORD}
    open_paths = ("/open/",)
    digest = ChallengeServer(users, [Digest("SHA-256", realm="sha256 realm")], open_paths=open_paths,
                             nonce_lifetime=3600.0, max_connections=64, timeout=300.0)
    basic = ChallengeServer(users, [Basic(realm="basic realm")], open_paths=open_paths,
                            max_connections=64, timeout=300.0)
    digest.start()
    basic.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        print(json.dumps({"digest": digest.port, "basic": basic.port}), flush=True)
        while sys.stdin.read(1):
            pass
        time.sleep(0)  # stdin closed: the parent is gone
    finally:
        digest.stop()
        basic.stop()


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    _serve_forever()
