"""Real recordings of instruments and voices as training material: the shipped manifest, fetching, checksums.

instrec ships a small table (``instrec/data/recordings/manifest.csv``; sources, licences and attributions in
``SOURCES.md`` beside it) of single recordings from public sample libraries: one row per file with its class,
the library (``github:owner/repo``) and commit, the file's path there, the sha256 of the upstream file's bytes,
the sha256 of its decoded samples, its licence and its kind (``note``: one note, hit or vocal sound; ``phrase``:
a sung or spoken word or phrase; ``loop``). The audio never ships with instrec: :func:`fetch` puts verified
copies into ``<cache>/recordings/<path>`` (``INSTREC_CACHE`` overrides the cache folder), either

- downloaded from the library's pinned upstream location (``<base>/<owner>/<repo>/<commit>/<path>``, base
  ``https://raw.githubusercontent.com`` or ``INSTREC_RECORDINGS_URL``), checked against the upstream sha256, and
  stored losslessly as FLAC (same rate, channels and bit depth; a floating-point WAV is kept as it is); or
- taken from a Debian package (rows whose source is ``debian:<package>``, the commit column giving the package
  version): ``apt-get download`` (or the .deb in ``deb_dir``), each file checked against its upstream sha256 and
  stored as it is, or as FLAC where it is a WavPack file (a member of a ZIP archive in the package is written
  ``<archive>!/<member>``, as the GrandOrgue sample sets keep their pipes; decoding WavPack needs PyAV,
  ``pip install av``); or
- copied from a local copy of the same layout (``--from DIR``, e.g. a folder placed by hand), checked against
  the decoded-sample sha256.

Either way the stored file's decoded samples are checked against the manifest: a damaged or replaced file is
refused with one line naming it, and the other files go on (a fetch never loses what finished).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from instrec.errors import InstrecError
from instrec.io import atomic_path

UPSTREAM_URL = "https://raw.githubusercontent.com"
FIELDS = ("path", "label", "source", "commit", "upstream_path", "upstream_sha256", "pcm_sha256", "licence", "kind")
KINDS = ("note", "phrase", "loop")
IN_ARCHIVE = "!/"  # upstream_path <archive>!/<member>: a member of a ZIP archive inside a Debian package
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")


@dataclass(frozen=True)
class Recording:
    """One row of the manifest."""

    path: str
    label: str
    source: str
    commit: str
    upstream_path: str
    upstream_sha256: str
    pcm_sha256: str
    licence: str
    kind: str

    @property
    def library(self) -> str:
        """The library folder (``owner.repo``) the file sits in."""
        return self.path.split("/", 1)[0]

    def url(self, base: str = UPSTREAM_URL) -> str:
        repo = self.source.removeprefix("github:")
        return f"{base.rstrip('/')}/{repo}/{self.commit}/{urllib.parse.quote(self.upstream_path)}"


def manifest_path() -> Path:
    return Path(str(resources.files("instrec") / "data" / "recordings" / "manifest.csv"))


def read_manifest(path: str | Path | None = None) -> list[Recording]:
    """The rows of a manifest (default: the one shipped with instrec), checked for the fields and values used."""
    from instrec.datasets.classes import OPENMIC_CLASSES as CLASSES

    path = Path(path) if path else manifest_path()
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InstrecError(f"{path}: not a readable recordings manifest ({exc}); reinstall instrec") from None
    if not rows or tuple(rows[0]) != FIELDS:
        raise InstrecError(f"{path}: a recordings manifest needs the columns {', '.join(FIELDS)}")
    out = []
    for line, row in enumerate(rows, start=2):
        rec = Recording(**row)
        bad = ("label" if rec.label not in CLASSES else "kind" if rec.kind not in KINDS
               else "path" if rec.path.startswith("/") or ".." in rec.path.split("/") else None)
        if bad:
            raise InstrecError(f"{path}, line {line}: {bad} {getattr(rec, bad)!r} is not allowed")
        out.append(rec)
    return out


def recordings_dir() -> Path:
    from instrec.weights import cache_dir

    return cache_dir() / "recordings"


def select(recordings: list[Recording], names: list[str] | None) -> list[Recording]:
    """The rows of the libraries ``names`` (a library folder, its name without the owner, or a class: every
    library with recordings of it); all rows when ``names`` is empty."""
    if not names:
        return list(recordings)
    libraries = sorted({r.library for r in recordings})
    labels = {r.label for r in recordings}
    chosen: set[str] = set()
    for name in names:
        if name in labels:
            chosen |= {r.library for r in recordings if r.label == name}
            continue
        matches = [lib for lib in libraries if lib == name or lib.split(".", 1)[-1] == name or lib.endswith("." + name)]
        if len(matches) != 1:
            what = "matches no library" if not matches else f"matches {len(matches)} libraries"
            raise InstrecError(f"recordings {name!r}: {what}; `instrec recordings list` shows the libraries and "
                               "classes")
        chosen.add(matches[0])
    return [r for r in recordings if r.library in chosen]


def pcm_sha256(path: str | Path) -> str:
    """The sha256 of a file's decoded samples, as the manifest gives it: int32 samples for integer PCM,
    float32 for floating-point files, frames x channels, little-endian bytes."""
    import soundfile as sf

    info = sf.info(str(path))
    dtype = "float32" if info.subtype in FLOAT_SUBTYPES else "int32"
    samples, _ = sf.read(str(path), dtype=dtype, always_2d=True)
    return hashlib.sha256(samples.astype(samples.dtype.newbyteorder("<"), copy=False).tobytes()).hexdigest()


def verify(rec: Recording, path: Path) -> str | None:
    """None if ``path`` holds the samples of ``rec`` (or is the upstream file byte for byte), else why not (one
    line, naming the file)."""
    import soundfile as sf

    from instrec.weights import sha256_of

    if not path.is_file():
        return f"{path}: missing"
    if path.suffix.lower() == Path(rec.upstream_path).suffix.lower() and sha256_of(path) == rec.upstream_sha256:
        return None
    try:
        digest = pcm_sha256(path)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        return f"{path}: not a readable audio file ({str(exc).splitlines()[0][:100]}); delete it and fetch again"
    if digest != rec.pcm_sha256:
        return (f"{path}: decoded samples' sha256 {digest[:12]}... differs from the manifest's {rec.pcm_sha256[:12]}...; "
                "the file is damaged or another recording; delete it and fetch again")
    return None


def _store_upstream(rec: Recording, data: bytes, target: Path) -> None:
    """Write the verified upstream bytes as the manifest's file: as they are when the extensions agree, else
    losslessly as FLAC with the source's bit depth (the shared copies are made the same way)."""
    import soundfile as sf

    with atomic_path(target) as tmp:
        if Path(rec.upstream_path).suffix.lower() == target.suffix.lower():
            tmp.write_bytes(data)
            return
        if data[:4] == b"wvpk":
            samples, rate, subtype = decode_wavpack(data, rec.path)
        else:
            with sf.SoundFile(io.BytesIO(data)) as source:
                subtype = source.subtype if source.subtype in ("PCM_16", "PCM_24") else "PCM_24"
                samples = source.read(dtype="int32", always_2d=True)
                rate = source.samplerate
        sf.write(str(tmp), samples, rate, format="FLAC", subtype=subtype)


def decode_wavpack(data: bytes, name: str):
    """(int32 samples frames x channels, rate, FLAC subtype) of a WavPack file's bytes, through PyAV (FFmpeg's
    decoder; libsndfile reads no WavPack), as soundfile reads a 16-bit file with dtype int32."""
    import numpy as np

    try:
        import av
    except ImportError:
        raise InstrecError(f"{name}: is WavPack, which needs PyAV to decode; pip install av") from None
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.audio[0]
            rate, fmt = stream.rate, stream.codec_context.format.name
            frames = [f.to_ndarray() for f in container.decode(audio=0)]
    except (av.error.FFmpegError, IndexError) as exc:
        raise InstrecError(f"{name}: not a readable WavPack file ({exc}); fetch it again") from None
    if fmt != "s16p":  # FFmpeg decodes WavPack planar; the GrandOrgue pipes are 16-bit, other depths not needed yet
        raise InstrecError(f"{name}: WavPack samples of format {fmt}, not 16-bit PCM; not supported")
    return np.concatenate(frames, axis=1).T.astype(np.int32) << 16, rate, "PCM_16"


def _download(rec: Recording, base: str, timeout_s: float) -> bytes:
    url = rec.url(base)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            data = response.read()
    except OSError as exc:
        raise InstrecError(f"{url}: download failed ({exc}); place a copy by hand and pass --from DIR") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != rec.upstream_sha256:
        raise InstrecError(f"{url}: sha256 {digest[:12]}... differs from the manifest's {rec.upstream_sha256[:12]}...; "
                           "the upstream file changed or the download is damaged; try again or place a copy by hand")
    return data


def fetch_one(rec: Recording, dest: Path, from_dir: Path | None = None, base: str | None = None,
              timeout_s: float = 60.0) -> Path:
    """A verified copy of ``rec`` at ``dest/<path>`` (kept if it is already there and verified)."""
    target = dest / rec.path
    if target.is_file() and verify(rec, target) is None:
        return target
    if from_dir is None and rec.source.startswith("debian:"):
        raise InstrecError(f"{rec.path}: comes from a Debian package; fetch it with the others of its package")
    if from_dir is not None:
        source = from_dir / rec.path
        if not source.is_file():
            raise InstrecError(f"{source}: not there; the local copy needs the manifest's layout (<library>/<path>)")
        why = verify(rec, source)
        if why:
            raise InstrecError(why)
        with atomic_path(target) as tmp:  # a byte copy of the verified file: nothing to check again
            shutil.copyfile(source, tmp)
        return target
    _store_verified(rec, _download(rec, base or os.environ.get("INSTREC_RECORDINGS_URL") or UPSTREAM_URL, timeout_s),
                    target)
    return target


def _store_verified(rec: Recording, data: bytes, target: Path) -> None:
    """:func:`_store_upstream`, then the stored file checked (a conversion's samples must be the upstream file's);
    a file that fails is removed and the reason raised."""
    _store_upstream(rec, data, target)
    why = verify(rec, target)
    if why:
        target.unlink(missing_ok=True)
        raise InstrecError(why)


def fetch(names: list[str] | None = None, from_dir: str | Path | None = None, dest: str | Path | None = None,
          base: str | None = None, progress=None, recordings: list[Recording] | None = None,
          deb_dir: str | Path | None = None) -> tuple[list[Path], dict[str, str]]:
    """Fetch the recordings of ``names`` (:func:`select`; of ``recordings``, default the shipped manifest) into
    ``dest`` (default :func:`recordings_dir`). Returns the verified files and, per file that failed, why (each
    failure is skipped, the rest go on)."""
    dest = Path(dest) if dest else recordings_dir()
    chosen = select(read_manifest() if recordings is None else recordings, names)
    got, failed = [], {}
    if from_dir is None:  # the rows from Debian packages: one package download each, files taken from it
        debian = [r for r in chosen if r.source.startswith("debian:")]
        chosen = [r for r in chosen if not r.source.startswith("debian:")]
        for (source, version), rows in _by_package(debian).items():
            fetched, why = _fetch_debian(source.removeprefix("debian:"), version, rows, dest, deb_dir)
            got += fetched
            failed.update(why)
    for rec in (progress(chosen) if progress else chosen):
        try:
            got.append(fetch_one(rec, dest, Path(from_dir) if from_dir else None, base))
        except InstrecError as exc:
            failed[rec.path] = str(exc)
    return got, failed


def _by_package(rows: list[Recording]) -> dict[tuple[str, str], list[Recording]]:
    groups: dict[tuple[str, str], list[Recording]] = {}
    for r in rows:
        groups.setdefault((r.source, r.commit), []).append(r)
    return groups


def _fetch_debian(package: str, version: str, rows: list[Recording], dest: Path,
                  deb_dir: str | Path | None) -> tuple[list[Path], dict[str, str]]:
    """The rows' files taken from the Debian package ``package`` at ``version`` (``apt-get download``, or the .deb
    in ``deb_dir``), each checked against its upstream sha256; nothing else of the package is unpacked."""
    import subprocess
    import tarfile
    import tempfile

    from instrec.datasets.synth.soundfonts import find_deb

    got, failed, missing = [], {}, []
    for rec in rows:
        target = dest / rec.path
        if target.is_file() and verify(rec, target) is None:
            got.append(target)
        else:
            missing.append(rec)
    if not missing:
        return got, failed
    wanted: dict[str, list[Recording]] = {}
    for r in missing:  # by the package's file: a member of an archive is taken from its archive
        wanted.setdefault("./" + r.upstream_path.split(IN_ARCHIVE, 1)[0], []).append(r)
    with tempfile.TemporaryDirectory() as work:
        try:
            deb = find_deb(package, Path(deb_dir) if deb_dir else None, Path(work),
                           f"download {package}_{version.split(':')[-1]}_all.deb by hand and pass --deb-dir FOLDER",
                           version)
            tar_bytes = package_tar(deb)
        except (InstrecError, OSError, subprocess.CalledProcessError) as exc:
            why = str(exc) if isinstance(exc, InstrecError) else f"{package}: not unpacked ({exc})"
            return got, {r.path: why for r in missing}
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
            for member in tar:
                recs = wanted.pop(member.name, None)
                if recs is None or not member.isfile():
                    continue
                data = tar.extractfile(member).read()
                for rec, upstream in _members(deb, data, recs, failed):
                    digest = hashlib.sha256(upstream).hexdigest()
                    if digest != rec.upstream_sha256:
                        failed[rec.path] = (f"{deb}: {rec.upstream_path} has sha256 {digest[:12]}..., the manifest "
                                            f"{rec.upstream_sha256[:12]}...; another version of {package}? fetch again")
                        continue
                    try:  # as it is, or decoded (WavPack) into FLAC; checked by its samples
                        _store_verified(rec, upstream, dest / rec.path)
                    except InstrecError as exc:
                        failed[rec.path] = str(exc)
                        continue
                    got.append(dest / rec.path)
    for recs in wanted.values():
        for rec in recs:
            failed[rec.path] = f"{package} {version}: has no {rec.upstream_path.split(IN_ARCHIVE, 1)[0]}"
    return got, failed


def package_tar(deb: Path) -> bytes:
    """The file tree of the Debian package ``deb`` as a tar archive's bytes (``dpkg-deb --fsys-tarfile``; members
    named ``./usr/...``)."""
    import subprocess

    return subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout


def package_files(deb: Path, keep) -> dict[str, bytes]:
    """The files of the Debian package ``deb`` whose path (``usr/...``) ``keep(path)`` accepts: {path: bytes}."""
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(package_tar(deb))) as tar:
        return {name: tar.extractfile(member).read() for member in tar
                if member.isfile() and keep(name := member.name.removeprefix("./"))}


def manifest_row(data: bytes, **fields: str) -> Recording:
    """The manifest row of an upstream file's bytes ``data``: ``fields`` (all but the checksums) with the sha256 of
    ``data`` and of the decoded samples of the file ``fetch`` stores for it (``scripts/*_rows.py`` write rows so)."""
    import tempfile

    rec = Recording(**fields, upstream_sha256=hashlib.sha256(data).hexdigest(), pcm_sha256="")
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / Path(rec.path).name
        _store_upstream(rec, data, target)
        return Recording(**{**rec.__dict__, "pcm_sha256": pcm_sha256(target)})


def _members(deb: Path, data: bytes, recs: list[Recording], failed: dict[str, str]):
    """(row, its upstream bytes) for the rows of one file of a package: the file itself, or for rows
    ``<archive>!/<member>`` each member of the ZIP archive ``data`` (a row whose member is missing goes to
    ``failed``)."""
    import zipfile

    plain = [r for r in recs if IN_ARCHIVE not in r.upstream_path]
    for rec in plain:
        yield rec, data
    inside = [r for r in recs if IN_ARCHIVE in r.upstream_path]
    if not inside:
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        for rec in inside:
            failed[rec.path] = f"{deb}: {rec.upstream_path.split(IN_ARCHIVE, 1)[0]} is not a ZIP archive ({exc})"
        return
    with archive:
        names = set(archive.namelist())
        for rec in inside:
            member = rec.upstream_path.split(IN_ARCHIVE, 1)[1]
            if member not in names:
                failed[rec.path] = f"{deb}: {rec.upstream_path.split(IN_ARCHIVE, 1)[0]} has no {member}"
                continue
            yield rec, archive.read(member)


def located(recordings: list[Recording], root: str | Path | None = None) -> list[tuple[Recording, Path]]:
    """The rows whose file is at ``root/<path>`` (default: the cache), with that path (not re-verified)."""
    root = Path(root) if root else recordings_dir()
    return [(r, root / r.path) for r in recordings if (root / r.path).is_file()]


def summary(recordings: list[Recording]) -> list[dict]:
    """Per library: its classes with counts, kinds, licence and source."""
    rows = {}
    for r in recordings:
        row = rows.setdefault(r.library, {"library": r.library, "source": r.source, "licence": r.licence,
                                          "classes": Counter(), "kinds": Counter()})
        row["classes"][r.label] += 1
        row["kinds"][r.kind] += 1
    return list(rows.values())
