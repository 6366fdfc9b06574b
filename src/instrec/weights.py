"""Released weights: name -> (URL, checksum), a cache folder, and an explicit, verified download.

Nothing downloads at import or implicitly: ``instrec weights fetch`` does, on request. To place the
files by hand, download them from the URLs below into the cache folder (``instrec weights path``
prints it; ``INSTREC_CACHE`` overrides it) or pass their paths with ``--weights`` / ``--pca``.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from instrec.errors import InstrecError
from instrec.io import atomic_path

RELEASE = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/"


@dataclass(frozen=True)
class WeightFile:
    name: str
    filename: str
    url: str
    sha256_prefix: str  # torch.hub convention: the file name carries the first hex digits of its sha256
    sha256: str | None = None  # the full digest where it is known


WEIGHTS = {
    "vggish": WeightFile("vggish", "vggish-10086976.pth", RELEASE + "vggish-10086976.pth", "10086976",
                         "10086976245803799d9194e9a73d9b6c1549c71d1b80106f5cade5608a561f4b"),
    "vggish-pca": WeightFile("vggish-pca", "vggish_pca_params-970ea276.pth",
                             RELEASE + "vggish_pca_params-970ea276.pth", "970ea276"),
}


def cache_dir() -> Path:
    return Path(os.environ.get("INSTREC_CACHE") or Path.home() / ".cache" / "instrec")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, spec: WeightFile, shown_as: Path | str | None = None) -> None:
    digest = sha256_of(path)
    expected = spec.sha256 or spec.sha256_prefix
    if not digest.startswith(expected):
        raise InstrecError(f"{shown_as or path}: sha256 {digest[:16]}... does not match {expected[:16]}... of {spec.filename}; "
                           f"delete it and fetch again, or download {spec.url} by hand")


def local_path(name: str) -> Path | None:
    """The cached file for ``name`` if it is there."""
    path = cache_dir() / WEIGHTS[name].filename
    return path if path.is_file() else None


def fetch(name: str, base_url: str | None = None, timeout_s: float = 60.0) -> Path:
    """Download ``name`` into the cache (atomically) unless a verified copy is there; returns its path."""
    spec = WEIGHTS[name]
    target = cache_dir() / spec.filename
    if target.is_file():
        verify(target, spec)
        return target
    url = (base_url.rstrip("/") + "/" + spec.filename) if base_url else spec.url
    try:
        with atomic_path(target) as tmp:
            with urllib.request.urlopen(url, timeout=timeout_s) as response, open(tmp, "wb") as out:
                while block := response.read(1 << 20):
                    out.write(block)
            verify(tmp, spec, shown_as=url)
    except OSError as exc:
        raise InstrecError(f"{url}: download failed ({exc}); download it by hand into {target.parent}") from None
    return target
