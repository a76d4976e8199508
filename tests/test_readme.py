"""README.rst's commands and examples, run so they cannot rot."""

import doctest
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.rst").read_text(encoding="utf-8")


def newcomer_commands():
    """The literal blocks of the 'On a fresh machine' section, in order."""
    section = README.split("On a fresh machine\n", 1)[1].split("\nUsage\n", 1)[0]
    return re.findall(r"::\n\n    (.+)\n", section)


def test_readme_starts_with_the_two_newcomer_commands():
    install_and_demo, run_tests = newcomer_commands()
    assert install_and_demo == "python -m pip install . && requests-challenge demo"
    assert "pytest" in run_tests


def test_ci_runs_the_test_command_the_readme_shows():
    _, run_tests = newcomer_commands()
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert run_tests in ci_lines


def test_install_and_demo_command_works_in_a_fresh_venv(tmp_path):
    """The first command, exactly as written, in a new, empty virtualenv: what a
    newcomer has (requests comes from the package index, as for them)."""
    install_and_demo, _ = newcomer_commands()
    source = tmp_path / "src"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    for name in tracked.stdout.splitlines():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    env = dict(os.environ, PATH=f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    result = subprocess.run(["bash", "-c", install_and_demo], cwd=source, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "the second had no 401" in result.stdout
    assert str(env_dir) in subprocess.run([str(env_dir / "bin" / "python"), "-c",
                                           "import requests_challenge, sys; print(requests_challenge.__file__)"],
                                          capture_output=True, text=True, timeout=60, env=env,
                                          cwd=tmp_path).stdout


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
