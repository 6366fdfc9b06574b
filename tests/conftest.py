import functools
import http.server
import importlib.util
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="module")
def module_tmp(request, tmp_path_factory):
    """``module_tmp.mktemp(name)`` for a module's shared fixtures: like ``tmp_path_factory.mktemp``, but the folders
    are removed when the module's tests are done, so that checkpoints (a VGGish state dict is 290 MB) do not pile up
    over the suite and fill a small disk (kept when a test of the module failed, to look at)."""
    made: list[Path] = []

    class Factory:
        @staticmethod
        def mktemp(name: str) -> Path:
            made.append(tmp_path_factory.mktemp(name))
            return made[-1]

    failed_before = request.session.testsfailed
    yield Factory
    if request.session.testsfailed == failed_before:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def interrupt_after():
    """A training ``after_epoch`` callback that stops the run (as a Ctrl-C would) once ``epochs`` are done."""
    def make(epochs: int):
        def after_epoch(done: int) -> None:
            if done == epochs:
                raise KeyboardInterrupt
        return after_epoch
    return make


@pytest.fixture
def server(tmp_path):
    """A local HTTP server on 127.0.0.1 for download tests: (folder it serves, base URL)."""
    root = tmp_path / "served"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def build_deb(tmp_path):
    """Build a local Debian package: ``build_deb(package, version, files)`` with ``files`` {path in the package:
    bytes} writes ``tmp_path/debs/<package>_<version without epoch>_all.deb`` and returns the folder."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not available")

    def build(package: str, version: str, files: dict[str, bytes]) -> Path:
        tree = tmp_path / f"pkg-{package}"
        (tree / "DEBIAN").mkdir(parents=True)
        (tree / "DEBIAN" / "control").write_text(f"Package: {package}\nVersion: {version}\nArchitecture: all\n"
                                                "Maintainer: instrec <t@example.invalid>\nDescription: test\n")
        for path, data in files.items():
            (tree / path).parent.mkdir(parents=True, exist_ok=True)
            (tree / path).write_bytes(data)
        debs = tmp_path / "debs"
        debs.mkdir(exist_ok=True)
        name = f"{package}_{version.split(':')[-1]}_all.deb"
        subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree), str(debs / name)], check=True,
                       capture_output=True)
        return debs

    return build


SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def load_script(name: str):
    """A research script of scripts/ as a module (with scripts/ importable, for its shared _probe.py)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
