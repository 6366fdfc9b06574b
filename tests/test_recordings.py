"""Real recordings as training material: the shipped manifest, fetching from upstream and from a local copy."""

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from instrec.cli import main
from instrec.datasets import recordings
from instrec.datasets.classes import OPENMIC_CLASSES
from instrec.errors import InstrecError

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _upstream(root: Path, repo: str, upstream_path: str, seed: int, subtype: str = "PCM_24") -> tuple[bytes, str]:
    """Write a short recording as the upstream repository serves it; returns its bytes and decoded-sample sha256."""
    rng = np.random.default_rng(seed)
    audio = (0.3 * np.sin(2 * np.pi * 220 * np.arange(4410) / 44100) + 0.01 * rng.standard_normal(4410))
    target = root / repo / COMMIT / upstream_path
    target.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(target), audio, 44100, subtype=subtype)
    return target.read_bytes(), recordings.pcm_sha256(target)


def _row(repo: str, upstream_path: str, data: bytes, pcm: str, label: str = "ukulele") -> recordings.Recording:
    owner, name = repo.split("/")
    path = f"{owner}.{name}/{Path(upstream_path).with_suffix('.flac')}"
    return recordings.Recording(path, label, f"github:{repo}", COMMIT, upstream_path, hashlib.sha256(data).hexdigest(),
                                pcm, "CC0-1.0", "note")


def test_fetch_downloads_verifies_and_stores_lossless_flac(server, tmp_path):
    root, url = server
    rows = [_row("someone/uke", f"Samples/{i}-A4.wav", *_upstream(root, "someone/uke", f"Samples/{i}-A4.wav", i))
            for i in range(3)]
    got, failed = recordings.fetch(dest=tmp_path / "cache", base=url, recordings=rows)
    assert failed == {}
    assert [p.relative_to(tmp_path / "cache").as_posix() for p in got] == [r.path for r in rows]
    for row, path in zip(rows, got):
        assert sf.info(str(path)).format == "FLAC" and sf.info(str(path)).subtype == "PCM_24"
        served, _ = sf.read(str(root / "someone/uke" / COMMIT / row.upstream_path), dtype="int32")
        stored, _ = sf.read(str(path), dtype="int32")
        np.testing.assert_array_equal(stored, served)  # lossless
    # a second fetch keeps the verified files and downloads nothing (the server's files are gone)
    for f in (root / "someone/uke").rglob("*.wav"):
        f.unlink()
    again, failed = recordings.fetch(dest=tmp_path / "cache", base=url, recordings=rows)
    assert failed == {} and again == got


def test_fetch_refuses_a_wrong_upstream_checksum_and_goes_on(server, tmp_path):
    root, url = server
    good = _row("a/b", "x/good.wav", *_upstream(root, "a/b", "x/good.wav", 0))
    data, pcm = _upstream(root, "a/b", "x/changed.wav", 1)
    changed = _row("a/b", "x/changed.wav", data + b"\0\0", pcm)  # the manifest knows other bytes
    got, failed = recordings.fetch(dest=tmp_path / "cache", base=url, recordings=[changed, good])
    assert [p.name for p in got] == ["good.flac"]
    why = failed[changed.path]
    assert "\n" not in why and "x/changed.wav" in why and "sha256" in why
    assert not (tmp_path / "cache" / changed.path).exists()


def test_fetch_from_a_local_copy_checks_decoded_samples(tmp_path):
    copy = tmp_path / "copy"
    rows = []
    for i, name in enumerate(["good", "corrupt", "missing"]):
        data, pcm = _upstream(tmp_path / "up", "a/b", f"s/{name}.wav", i)
        row = _row("a/b", f"s/{name}.wav", data, pcm)
        rows.append(row)
        if name != "missing":
            audio, rate = sf.read(str(tmp_path / "up/a/b" / COMMIT / row.upstream_path), dtype="int32")
            (copy / row.path).parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(copy / row.path), audio, rate, subtype="PCM_24")
    # damage the samples of one file (a valid FLAC holding other audio)
    audio, rate = sf.read(str(copy / rows[1].path), dtype="int32")
    audio[100] += 1 << 8
    sf.write(str(copy / rows[1].path), audio, rate, subtype="PCM_24")
    got, failed = recordings.fetch(from_dir=copy, dest=tmp_path / "cache", recordings=rows)
    assert [p.name for p in got] == ["good.flac"]
    assert set(failed) == {rows[1].path, rows[2].path}
    assert all("\n" not in why for why in failed.values())
    assert "differs from the manifest" in failed[rows[1].path] and "not there" in failed[rows[2].path]
    # a truncated file (not decodable to the end) is refused as unreadable or as other samples, in one line
    (copy / rows[0].path).write_bytes((copy / rows[0].path).read_bytes()[:200])
    (tmp_path / "cache" / rows[0].path).unlink()
    _, failed = recordings.fetch(from_dir=copy, dest=tmp_path / "cache", recordings=rows[:1])
    assert len(failed) == 1 and "\n" not in failed[rows[0].path]


def test_the_shipped_manifest_covers_its_classes_and_names_every_licence():
    rows = recordings.read_manifest()
    assert len(rows) == len({r.path for r in rows})  # one row per file
    assert {r.label for r in rows} <= set(OPENMIC_CLASSES)
    assert {"ukulele", "banjo", "voice", "guitar", "piano", "bass"} <= {r.label for r in rows}
    sources = (recordings.manifest_path().parent / "SOURCES.md").read_text()
    listed = set()  # the folders SOURCES.md names, "debian.klettres-data.{lt,ml}" as two
    for cell in re.findall(r"^\| ([^ |]+) \|", sources, re.M):
        stem, _, names = cell.partition("{")
        listed |= {stem + n for n in names.rstrip("}").split(",")} if names else {cell}
    assert {r.library for r in rows} <= listed  # each library's licence and attribution are listed
    reserved = [r for r in rows if r.source == "debian:klettres-data" and r.library.rsplit(".", 1)[1] not in
                ("lt", "ml", "nb", "nds", "nl", "pt_BR", "ru", "tn", "uk")]
    assert reserved == []  # klettres-data's other languages are reserved for evaluation
    assert not any(name in r.source for r in rows for name in (
        "sonic-pi", "hydrogen", "lmms", "fretsonfire", "gcompris"))
    assert all((len(r.commit) == 40 or r.source.startswith("debian:")) and len(r.upstream_sha256) == 64 and len(r.pcm_sha256) == 64 for r in rows)
    assert rows[0].url().startswith("https://raw.githubusercontent.com/") and COMMIT not in rows[0].url()


def test_select_by_library_short_name_or_class():
    rows = recordings.read_manifest()
    assert {r.label for r in recordings.select(rows, ["ukulele"])} == {"ukulele"}
    assert {r.library for r in recordings.select(rows, ["bear-sax"])} == {"sfzinstruments.karoryfer.bear-sax"}
    with pytest.raises(InstrecError, match="matches no library"):
        recordings.select(rows, ["theremin"])


def test_cli_list_and_a_bad_from_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("INSTREC_CACHE", str(tmp_path))
    assert main(["recordings", "list", "banjo"]) == 0
    assert "sfzinstruments.ganjo: banjo 45; CC0-1.0" in capsys.readouterr().out
    assert main(["recordings", "fetch", "banjo", "--from", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere: not a folder" in err[0]


def test_fetch_takes_debian_rows_from_the_package(tmp_path, build_deb):
    rows, files = [], {}
    for i, name in enumerate(["a.ogg", "b.opus"]):  # Vorbis (KLettres) and Opus (KTuberling's Nynorsk) as they are
        upstream = f"usr/share/klettres/nl/alpha/{name}"
        sound = tmp_path / name
        sf.write(str(sound), 0.3 * np.sin(np.arange(8000) * (0.05 + i * 0.01)), 16000, format="OGG",
                 subtype="OPUS" if name.endswith(".opus") else "VORBIS")
        files[upstream] = data = sound.read_bytes()
        rows.append(recordings.Recording(f"debian.klettres-data.nl/alpha/{name}", "voice", "debian:klettres-data",
                                         "4:22.12.3-1", upstream, hashlib.sha256(data).hexdigest(),
                                         recordings.pcm_sha256(sound), "GPL-2.0-or-later", "phrase"))
    debs = build_deb("klettres-data", "4:22.12.3-1", files)
    wrong = recordings.Recording(**{**rows[1].__dict__, "path": "debian.klettres-data.nl/alpha/c.ogg",
                                    "upstream_sha256": "0" * 64})
    got, failed = recordings.fetch(dest=tmp_path / "cache", deb_dir=debs, recordings=rows + [wrong])
    assert sorted(p.name for p in got) == ["a.ogg", "b.opus"]
    assert list(failed) == [wrong.path] and "sha256" in failed[wrong.path] and "\n" not in failed[wrong.path]
    assert all(recordings.verify(r, tmp_path / "cache" / r.path) is None for r in rows)


def _wavpack(samples: np.ndarray, rate: int) -> bytes:
    """A stereo 16-bit WavPack file of ``samples`` (frames x 2, int16), as the GrandOrgue sample sets keep pipes."""
    import io

    av = pytest.importorskip("av")
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="wv") as out:
        stream = out.add_stream("wavpack", rate=rate, layout="stereo")
        stream.codec_context.format = "s16p"  # else PyAV encodes 8-bit samples
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T), format="s16p", layout="stereo")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buffer.getvalue()


def test_fetch_takes_wavpack_members_of_an_archive_in_a_debian_package_as_flac(tmp_path, build_deb):
    import io
    import zipfile

    rng = np.random.default_rng(3)
    pipes = {f"Montre8/{k:03d}-C.wav": (3000 * np.sin(np.arange(22050)[:, None] * 0.03 * (1 + k / 50) + [0, 0.2])
                                        + rng.integers(-30, 30, (22050, 2))).astype(np.int16) for k in (36, 48)}
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for member, samples in pipes.items():
            z.writestr(member, _wavpack(samples, 44100))
        z.writestr("Sounds/Motor.wav", b"not asked for")
    orgue = "usr/share/GrandOrgue/packages/demo.orgue"
    debs = build_deb("grandorgue-demo", "3.9.5-1", {orgue: archive.getvalue()})
    rows = []
    with zipfile.ZipFile(archive) as z:
        for member, samples in pipes.items():
            pcm = hashlib.sha256((samples.astype(np.int32) << 16).astype("<i4").tobytes()).hexdigest()
            rows.append(recordings.Recording(f"debian.grandorgue-demo.flue/{member[:-4]}.flac", "organ",
                                             "debian:grandorgue-demo", "3.9.5-1", orgue + recordings.IN_ARCHIVE + member,
                                             hashlib.sha256(z.read(member)).hexdigest(), pcm,
                                             "GPL-2.0-or-later OR CC-BY-SA-2.5", "note"))
    damaged = recordings.Recording(**{**rows[0].__dict__, "path": "debian.grandorgue-demo.flue/x.flac",
                                      "pcm_sha256": "0" * 64})  # the member's bytes match, its samples do not
    absent = recordings.Recording(**{**rows[0].__dict__, "path": "debian.grandorgue-demo.flue/y.flac",
                                     "upstream_path": orgue + recordings.IN_ARCHIVE + "Montre8/099-C.wav"})
    got, failed = recordings.fetch(dest=tmp_path / "cache", deb_dir=debs, recordings=rows + [damaged, absent])
    assert sorted(p.name for p in got) == ["036-C.flac", "048-C.flac"]
    for rec, (member, samples) in zip(rows, pipes.items()):
        stored, rate = sf.read(str(tmp_path / "cache" / rec.path), dtype="int16")
        assert rate == 44100 and np.array_equal(stored, samples)  # lossless: the very samples of the pipe
        assert sf.info(str(tmp_path / "cache" / rec.path)).format == "FLAC"
        assert recordings.verify(rec, tmp_path / "cache" / rec.path) is None
    assert sorted(failed) == [damaged.path, absent.path]
    assert "differs from the manifest" in failed[damaged.path] and "has no Montre8/099-C.wav" in failed[absent.path]
    assert all("\n" not in why for why in failed.values())
    assert not (tmp_path / "cache" / damaged.path).exists()  # a file that fails its check is not left behind


def test_a_damaged_wavpack_file_is_refused_in_one_line():
    pytest.importorskip("av")
    with pytest.raises(InstrecError, match="pipe.wav: not a readable WavPack file") as info:
        recordings.decode_wavpack(b"wvpk" + bytes(200), "pipe.wav")
    assert "\n" not in str(info.value)


def test_every_library_sits_in_one_source_fold_and_a_class_of_several_libraries_in_several():
    from instrec.real_stage import FOLDS

    rows = recordings.read_manifest()
    placed = [lib for libraries in FOLDS.values() for lib in libraries]
    assert sorted(placed) == sorted({r.library for r in rows})  # each library once, none unknown
    for label in {r.label for r in rows}:
        libraries = {r.library for r in rows if r.label == label}
        folds = {k for k, libs in FOLDS.items() if set(libs) & libraries}
        assert len(folds) >= min(2, len(libraries)), label  # organ: the transistor organ and the pipes' two halves


def test_a_language_read_for_klettres_and_ktuberling_sits_in_one_fold():
    """The same volunteer may have read a language's letters and its words: training on one and scoring the other
    would not be a held-out reader."""
    from instrec.real_stage import FOLDS

    fold_of = {lib: k for k, libraries in FOLDS.items() for lib in libraries}
    rows = recordings.read_manifest()
    klettres = {r.library.rsplit(".", 1)[1]: fold_of[r.library] for r in rows if r.source == "debian:klettres-data"}
    words = {(r.path.split("/")[1], fold_of[r.library]) for r in rows if r.source == "debian:ktuberling-data"}
    assert len({lang for lang, _ in words}) == 23 and len(words) == 23  # each language in one group
    kin = {"pt": "pt_BR", "nn": "nb"}  # Portuguese and Brazilian Portuguese, Nynorsk and Bokmal: kept together too
    shared = [(lang, fold, klettres[kin.get(lang, lang)]) for lang, fold in words if kin.get(lang, lang) in klettres]
    assert {lang for lang, _, _ in shared} == {"lt", "nds", "nl", "ru", "uk", "pt", "nn"}
    assert all(fold == other for _, fold, other in shared), shared


def test_the_rows_of_other_programs_instruments_come_from_their_packages(tmp_path, build_deb, monkeypatch, capsys):
    """scripts/scrap_rows.py: from the seven packages' .deb files, one manifest row per listed file, or with --extract
    the files and their labels."""
    import csv
    import io
    import sys

    from tests.conftest import load_script

    scrap = load_script("scrap_rows")
    tone = np.sin(2 * np.pi * 220.0 * np.arange(8000) / 16000).astype(np.float32) * 0.3
    debs = None
    for k, (package, (version, _, folder, files)) in enumerate(scrap.PACKAGES.items()):
        made = {}
        for i, (name, _, _) in enumerate(files):
            buffer = io.BytesIO()  # WAV bytes under every name: soundfile reads a file by its header
            sf.write(buffer, tone * (1 + 0.01 * (i + 10 * k)), 16000, format="WAV", subtype="PCM_16")
            made[folder + name] = buffer.getvalue()
        debs = build_deb(package, version, made)
    monkeypatch.setattr(sys, "argv", ["scrap_rows.py", *map(str, sorted(debs.glob("*.deb")))])
    scrap.main()
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    listed = [(p, name, label, kind) for p, (_, _, _, files) in scrap.PACKAGES.items() for name, label, kind in files]
    assert len(rows) == len(listed) == 52 and len({r[0] for r in rows}) == 52
    assert {(r[0], r[1], r[2], r[8]) for r in rows} == {
        (f"debian.{p}/{name.replace(' ', '-')}", label, f"debian:{p}", kind) for p, name, label, kind in listed}
    assert all(len(r[5]) == len(r[6]) == 64 for r in rows)
    monkeypatch.setattr(sys, "argv", ["scrap_rows.py", "--extract", str(tmp_path / "eval"),
                                      *map(str, sorted(debs.glob("*.deb")))])
    scrap.main()
    labels = list(csv.reader(open(tmp_path / "eval" / "labels.csv")))
    assert labels[0] == ["file", "instruments"] and len(labels) == 53
    assert all((tmp_path / "eval" / f).is_file() for f, _ in labels[1:])
    # a package missing: one line naming it and how to get it
    monkeypatch.setattr(sys, "argv", ["scrap_rows.py", str(next(debs.glob("scratch_*.deb")))])
    with pytest.raises(SystemExit, match="give the .deb of chuck-data, csoundqt-examples.*apt-get download"):
        scrap.main()
