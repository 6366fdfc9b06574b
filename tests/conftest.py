import functools
import http.server
import threading
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


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
