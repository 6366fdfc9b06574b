import hashlib

import pytest

from instrec import weights
from instrec.cli import main
from instrec.errors import InstrecError


@pytest.fixture
def fake_release(monkeypatch, tmp_path):
    payload = b"not really vggish" * 1000
    digest = hashlib.sha256(payload).hexdigest()
    spec = weights.WeightFile("vggish", f"vggish-{digest[:8]}.pth", "http://unused/", digest[:8], digest)
    monkeypatch.setattr(weights, "WEIGHTS", {"vggish": spec})
    monkeypatch.setenv("INSTREC_CACHE", str(tmp_path / "cache"))
    return spec, payload


def test_fetch_downloads_verifies_and_caches(server, fake_release):
    root, url = server
    spec, payload = fake_release
    (root / spec.filename).write_bytes(payload)
    path = weights.fetch("vggish", base_url=url)
    assert path.read_bytes() == payload and path.parent == weights.cache_dir()
    (root / spec.filename).unlink()  # a second fetch uses the verified cached copy
    assert weights.fetch("vggish", base_url=url) == path
    assert weights.local_path("vggish") == path


def test_fetch_rejects_a_wrong_checksum_and_leaves_nothing(server, fake_release):
    root, url = server
    spec, payload = fake_release
    (root / spec.filename).write_bytes(payload[:-1] + b"!")
    with pytest.raises(InstrecError, match="does not match"):
        weights.fetch("vggish", base_url=url)
    assert not any(weights.cache_dir().iterdir())


def test_fetch_missing_file_says_how_to_place_it(server, fake_release, capsys):
    _, url = server
    assert main(["weights", "fetch", "--base-url", url]) == 2
    err = capsys.readouterr().err
    assert "download failed" in err and "by hand" in err and len(err.strip().splitlines()) == 1


def test_release_table_is_consistent():
    for spec in weights.WEIGHTS.values():
        assert spec.sha256_prefix in spec.filename and spec.url.endswith(spec.filename)
        assert spec.sha256 is None or spec.sha256.startswith(spec.sha256_prefix)
