"""README.rst's commands and examples, run so they cannot rot."""

import doctest
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.rst").read_text(encoding="utf-8")


def newcomer_commands():
    """The literal blocks of the 'On a fresh machine' section, in order."""
    section = README.split("On a fresh machine\n", 1)[1].split("\nUsage\n", 1)[0]
    return re.findall(r"::\n\n    (.+)\n", section)


FIRST_COMMAND = "python3 -m venv .venv && . .venv/bin/activate && python -m pip install . && requests-challenge demo"


def test_readme_starts_with_the_two_newcomer_commands():
    install_and_demo, run_tests = newcomer_commands()
    assert install_and_demo == FIRST_COMMAND
    assert "pytest" in run_tests


def test_readme_says_what_a_stock_debian_needs():
    """No ``python`` command and PEP 668 (hence the venv); the packages the integration
    tests start, which .ci/run installs; and that without them those tests skip."""
    section = README.split("On a fresh machine\n", 1)[1].split("\nUsage\n", 1)[0]
    text = " ".join(section.split())
    assert "PEP 668" in text and "python3-venv" in text
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for package in ("lighttpd", "apache2", "squid", "openssl", "krb5-kdc", "krb5-admin-server", "krb5-user",
                    "libapache2-mod-auth-gssapi", "gss-ntlmssp", "libkrb5-dev", "gcc", "curl"):
        assert package in ci and f" {package}" in text, package
    assert "REQUESTS_CHALLENGE_REQUIRE_SERVERS=1" in text and "skip" in text and ".ci/run" in text


def test_ci_runs_the_test_command_the_readme_shows():
    _, run_tests = newcomer_commands()
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert run_tests in ci_lines


def test_install_and_demo_command_works_in_a_fresh_venv(tmp_path):
    """The first command, exactly as written, where there is a ``python3`` and no
    ``python`` command (stock Debian): it makes its own virtualenv, and requests comes
    from the package index, as for a newcomer."""
    install_and_demo, _ = newcomer_commands()
    source = tmp_path / "src"
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, timeout=30)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    for name in tracked.stdout.splitlines():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    only_python3 = tmp_path / "bin"
    only_python3.mkdir()
    (only_python3 / "python3").symlink_to(getattr(sys, "_base_executable", None) or sys.executable)
    path = os.pathsep.join([str(only_python3), "/usr/bin", "/bin"])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PATH=path, PIP_DISABLE_PIP_VERSION_CHECK="1")
    result = subprocess.run(["bash", "-c", install_and_demo], cwd=source, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "the second had no 401" in result.stdout
    venv_python = source / ".venv" / "bin" / "python"
    where = subprocess.run([str(venv_python), "-c", "import requests_challenge; print(requests_challenge.__file__)"],
                           capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert where.stdout.startswith(str(source / ".venv")), where.stdout + where.stderr


def test_readme_examples_hold():
    parser = doctest.DocTestParser()
    test = parser.get_doctest(README, {}, "README.rst", str(ROOT / "README.rst"), 0)
    assert test.examples, "README.rst has no >>> examples"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell")
def test_readme_mentions_every_command_line_subcommand():
    for subcommand in ("demo", "get", "serve"):
        assert f"requests-challenge {subcommand}" in README


def test_readme_renders_without_warnings():
    """A malformed table silently drops rows on PyPI; render it strictly here."""
    docutils_core = pytest.importorskip("docutils.core")
    from docutils.writers import null

    docutils_core.publish_string(README, writer=null.Writer(),
                                 settings_overrides={"halt_level": 2, "report_level": 2})


def blocks_of_the_testing_section():
    """The ``.. code-block:: python`` blocks of 'Testing your own client code', in order."""
    section = README.split("Testing your own client code\n", 1)[1].split("\nCommand line\n", 1)[0]
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:(?:    .*)?\n)+)", section)
    return [textwrap.dedent(block) for block in blocks]


TESTING_BLOCKS = ["server", "flask-middleware", "fixture", "pytest-httpserver", "proxy"]


def test_the_testing_section_shows_the_server_the_middleware_the_fixture_httpserver_and_the_proxy():
    blocks = blocks_of_the_testing_section()
    assert len(blocks) == len(TESTING_BLOCKS)
    assert "ChallengeMiddleware(" in blocks[1] and "ChallengeServer(app=" in blocks[1]
    assert "@pytest.mark.challenge_server(tls=True)" in blocks[2]
    assert "protect(httpserver" in blocks[3] and "expect_ordered_request(" in blocks[3]
    assert "ChallengeProxy(" in blocks[4] and "ChallengeAdapter(proxy_auth=" in blocks[4]


@pytest.mark.parametrize("index", range(len(TESTING_BLOCKS)), ids=TESTING_BLOCKS)
def test_testing_section_examples_run(index, pytester, monkeypatch):
    """Each block as a reader would paste it: plain code runs as it is; a block of
    ``test_`` functions runs as a test module with the package's pytest plugin (and
    pytest-httpserver's, an optional test dependency, where it uses its fixture)."""
    block = blocks_of_the_testing_section()[index]
    for module in ("flask",):
        if f"import {module}" in block:
            pytest.importorskip(module)
    if "testing.httpserver import" in block:
        pytest.importorskip("pytest_httpserver")
    if "tls=True" in block and shutil.which("openssl") is None:
        pytest.skip("openssl not installed (apt-get install openssl): the tls=True example needs it")
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # 127.0.0.1 directly, as a test machine has it
    if "def test_" not in block:
        exec(compile(block, f"README.rst block {index}", "exec"), {"__name__": "readme_example"})
        return
    pytester.makepyfile(block)
    result = pytester.runpytest("-p", "no:requests_challenge", "-p", "requests_challenge._pytest_plugin",
                                "--strict-markers")
    result.assert_outcomes(passed=block.count("def test_"))
