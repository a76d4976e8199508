"""The sdist and the wheel, built as a release would be (``python -m build``): the
LICENSE and ``py.typed`` in both, the metadata PyPI shows, and an sdist that is the
whole project, whose own tests run from it unpacked."""

import email.parser
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Run from the unpacked sdist: the README's commands and CI script (tests/test_readme.py)
# and two fast unit suites; every other test module, integration ones included, is collected.
FAST_SUBSET = ["tests/test_readme.py", "tests/test_grammar.py", "tests/test_basic.py"]


def project_files():
    """What a checkout holds: tracked files and new ones git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    return sorted(name for name in listed.stdout.splitlines() if (ROOT / name).is_file())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(the checkout's files, the sdist, the wheel), built from a copy of the checkout."""
    pytest.importorskip("build", reason="python -m build: pip install -e '.[test]'")
    files = project_files()
    base = tmp_path_factory.mktemp("packaging")
    source = base / "src"
    for name in files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes((ROOT / name).read_bytes())
    environment = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    environment.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(base / "dist"),
                             str(source)], capture_output=True, text=True, timeout=600, env=environment)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (sdist,) = (base / "dist").glob("*.tar.gz")
    (wheel,) = (base / "dist").glob("*.whl")
    return files, sdist, wheel


def sdist_names(sdist):
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        return top, {name[len(top) + 1:] for name in archive.getnames() if archive.getmember(name).isfile()}


def test_the_sdist_is_the_whole_project(built):
    files, sdist, _ = built
    _, names = sdist_names(sdist)
    for required in ("LICENSE", "README.rst", "setup.cfg", "setup.py", "MANIFEST.in", "requests_challenge/py.typed",
                     ".ci/run", "tests/integration/conftest.py", "bench/run.py", "PKG-INFO"):
        assert required in names, required
    missing = [name for name in files if name not in names and name != ".gitignore"]
    assert not missing, f"in the checkout, not in the sdist: {missing}"
    assert not [name for name in names if "__pycache__" in name or "_cache/" in name or name.endswith(".pyc")]


def test_the_wheel_has_the_license_py_typed_and_metadata(built):
    _, _, wheel = built
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.parser.Parser().parsestr(archive.read(metadata_name).decode("utf-8"))
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points_text = archive.read(entry_points).decode("utf-8")
        licence = [n for n in names if n.endswith("/LICENSE") and ".dist-info/" in n]
        assert licence and "Apache License" in archive.read(licence[0]).decode("utf-8")
    assert "requests_challenge/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/", ".ci/"))]
    assert metadata["License-File"] == "LICENSE" and metadata["License"] == "Apache-2.0"
    classifiers = metadata.get_all("Classifier")
    for wanted in ("Development Status :: 4 - Beta", "Framework :: Pytest",
                   "License :: OSI Approved :: Apache Software License", "Typing :: Typed",
                   *(f"Programming Language :: Python :: 3.{minor}" for minor in range(9, 14))):
        assert wanted in classifiers, wanted
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL"))
    assert set(urls) >= {"Documentation", "Source"}
    assert metadata["Requires-Python"] == ">=3.9"
    assert "requests-challenge = requests_challenge._cli:main" in entry_points_text
    assert "requests_challenge = requests_challenge._pytest_plugin" in entry_points_text


def test_the_sdist_has_the_license_metadata(built):
    _, sdist, _ = built
    top, _ = sdist_names(sdist)
    with tarfile.open(sdist) as archive:
        pkg_info = archive.extractfile(f"{top}/PKG-INFO").read().decode("utf-8")
        licence = archive.extractfile(f"{top}/LICENSE").read().decode("utf-8")
    assert "License-File: LICENSE" in pkg_info and "Framework :: Pytest" in pkg_info
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence


def test_the_tests_run_from_the_unpacked_sdist(built, tmp_path):
    _, sdist, _ = built
    top, _ = sdist_names(sdist)
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data") if hasattr(tarfile, "data_filter") else archive.extractall(tmp_path)
    unpacked = tmp_path / top
    environment = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    environment["PYTHONPATH"] = str(unpacked)  # the sdist's package, not the checkout's
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    which = subprocess.run([sys.executable, "-c", "import requests_challenge; print(requests_challenge.__file__)"],
                           cwd=unpacked, env=environment, capture_output=True, text=True, timeout=60)
    assert which.stdout.startswith(str(unpacked)), which.stdout + which.stderr

    collected = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", "tests"],
                               cwd=unpacked, env=environment, capture_output=True, text=True, timeout=300)
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    assert "tests/integration/" in collected.stdout  # shipped, and importable

    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *FAST_SUBSET],
                            cwd=unpacked, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout.splitlines()[-1] and "failed" not in result.stdout.splitlines()[-1]
