"""The bank pool: General MIDI SoundFonts made from recordings of real instruments.

Most banks are a file in a Debian package (``apt-get download`` + ``dpkg-deb -x``: no root needed) with a
known sha256. Two other kinds are turned into SoundFonts here (``samplebank.py``): drum kits of a Debian package
moved to the General MIDI percussion bank (``deb-drumkit``; the built file's sha256 is known too), and sets of
single-note recordings from the npm registry (``npm``; each package's sha256 is checked, the SoundFont is
written here). ``fetch`` puts verified copies into ``<cache>/soundfonts/`` (``INSTREC_CACHE`` overrides the
cache folder); a file a Debian/Ubuntu system already installed (``/usr/share/sounds/...``) is used where
it is, once its checksum matches. TimGM6mb also ships inside the pretty_midi wheel, so it is always there.

To place the files by hand: copy ``FluidR3_GM.sf2``, ``MuseScore_General_Lite.sf3`` and ``sf_GMbank.sf2``
(from the packages named in ``BANKS``) into ``instrec soundfonts path``; for the other kinds pass the folder
holding the downloaded .deb (``--deb-dir``) or npm tarballs (``--npm-dir``). A fourth kind is sung here
(``singing.py``): the Festival speech synthesizer and its diphone voices, from Debian packages, sing the voice class.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from instrec.datasets.synth.render import default_soundfont
from instrec.errors import InstrecError


@dataclass(frozen=True)
class Bank:
    name: str
    filename: str
    package: str  # the Debian package holding the file
    member: str  # its path inside the package
    sha256: tuple[str, ...]  # accepted digests (one per known distribution of the same bank)
    group: str  # banks sharing samples share a group; holding one out holds out the group
    licence: str
    default: bool = True
    kind: str = "deb"  # deb (the file as it is) | deb-drumkit (a kit moved to bank 128) | npm (samplebank.py)
    # | deb-pat (GUS patches of a Debian package, each waveform a held note: freepats.py)
    # | festival (sung by the Festival synthesizer from Debian packages: singing.py) | recordings (the notes of one
    # library of `instrec recordings`, member = the library: notebanks.py) | stk (the mandolin's body responses of
    # the Synthesis ToolKit, not a SoundFont: the real stage's modelled mandolin, mandolin.py) | synth (computed
    # synthesizer presets at the General MIDI synthesizer programs, member = the bank's index: synthesizer.py)
    source_sha256: str = ""  # deb-drumkit: the digest of the package's file before it is moved

    @property
    def system_copy(self) -> Path | None:
        """Where a Debian/Ubuntu system that installed the package keeps the file, if it is usable as it is."""
        return Path("/") / self.member if self.kind == "deb" else None


BANKS: dict[str, Bank] = {b.name: b for b in (
    Bank("timgm6mb", "TimGM6mb.sf2", "timgm6mb-soundfont", "usr/share/sounds/sf2/TimGM6mb.sf2",
         ("82475b91a76de15cb28a104707d3247ba932e228bada3f47bba63c6b31aaf7a1",  # the copy inside pretty_midi
          "c5378b62028c920cb11e4803327983fee2f2cdff5dc89c708e39da417e51c854"), "timgm6mb", "GPL-2"),
    Bank("fluidr3", "FluidR3_GM.sf2", "fluid-soundfont-gm", "usr/share/sounds/sf2/FluidR3_GM.sf2",
         ("74594e8f4250680adf590507a306655a299935343583256f3b722c48a1bc1cb0",), "fluidr3", "MIT"),
    Bank("musescore", "MuseScore_General_Lite.sf3", "musescore-general-soundfont-small",
         "usr/share/sounds/sf3/MuseScore_General_Lite.sf3",
         ("916aaca6b0eb9f9083eb42399614acb2ff4ec72ce28dffff1814592a9696b479",), "musescore", "MIT"),
    Bank("csound", "sf_GMbank.sf2", "csound-soundfont", "usr/share/sounds/sf2/sf_GMbank.sf2",
         ("9f39fc53bd3a1a69f13cb486838944eded358b3b6e8afbd6c1c2c33675b2034b",), "csound", "public domain"),
    # the full MuseScore bank: the same recordings as the Lite one at a higher quality (fetched on request)
    Bank("musescore-full", "MuseScore_General_Full.sf3", "musescore-general-soundfont",
         "usr/share/sounds/sf3/MuseScore_General_Full.sf3",
         ("f9a37b36655f23e167c66ec91bef6097c8e99be29286219a54062919eb41aeae",), "musescore", "MIT", default=False),
    # real recordings beyond the General MIDI banks: single notes of 15 orchestral, keyboard and band instruments
    # (samplebank.SAMPLE_SETS), and Glen MacArthur's two acoustic drum kits (AVLdrums, 5 velocity layers)
    Bank("tonejs", "tonejs-instruments-1.sf2", "npm: tonejs-instrument-*-mp3", "", (), "tonejs",
         "CC-BY-3.0", default=False, kind="npm"),
    Bank("avldrums-blackpearl", "Black_Pearl_4_GM.sf2", "avldrums.lv2-soundfont",
         "usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2",
         ("4ed1678c95293e2a68e8a45e48b63f684ae524fff87e9103eff869220bf86aa7",), "avldrums", "CC-BY-SA-3.0", default=False, kind="deb-drumkit",
         source_sha256="3bc27deb1b9d6a919c7cfc4ba5fc5c077ac7899fc21becbbb234749ffc523d13"),
    Bank("avldrums-redzeppelin", "Red_Zeppelin_4_GM.sf2", "avldrums.lv2-soundfont",
         "usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2",
         ("ff37632ed9acbaea425f89676c939365b61d411613e072355e8bd45de39774f9",), "avldrums", "CC-BY-SA-3.0", default=False, kind="deb-drumkit",
         source_sha256="e8710b899ece8f83b109d0e2f6a89b007b864c8c088ca3ad3cd6e47bd8e629cc"),
    # the voice class sung by nine recorded speakers (Festival's diphone voices; singing.PACKAGES)
    Bank("festival", "festival-singers-1.sf2", "festival + festvox-* voices", "", (), "festival",
         "MIT-style (English voices), GPL-2+ (Italian), GPL-3+ (Czech), LGPL-2+ (Finnish)", default=False,
         kind="festival"),
    # not a SoundFont: twelve recorded body responses of a mandolin, which the physical model of mandolin.py plays
    Bank("stk-mandolin", "stk-mandolin-bodies.wav", "stk", "usr/share/stk/rawwaves", (), "stk-mandolin",
         "MIT-style (STK, Perry R. Cook and Gary P. Scavone)", default=False, kind="stk"),
    # FreePats' General MIDI patches (Gravis UltraSound), most sampled from real instruments: 33 patches of 15 classes,
    # each waveform a held note (freepats.py)
    Bank("freepats", "freepats-1.sf2", "freepats", "usr/share/midi/freepats", (), "freepats",
         "GPL-2+ (with an exception for compositions that use the patches)", default=False, kind="deb-pat"),
)}
NOTE_SETS = ("npm", "deb-pat")  # kinds whose banks are whole recorded notes (real_stage.bank_notes reads them)
# kinds whose banks are General MIDI SoundFonts: real_stage.bank_notes plays each class's programs as held notes
PLAYED_NOTE_SETS = ("deb",)


def note_sets(played: bool = False, without: str = "") -> str:
    """The banks ``real_stage.bank_notes`` reads (recorded notes; with ``played``, General MIDI SoundFonts too), but
    ``without``, as a comma-separated list for the messages that offer them."""
    kinds = NOTE_SETS + (PLAYED_NOTE_SETS if played else ())
    return ", ".join(name for name, b in BANKS.items() if b.kind in kinds and name != without)


def _note_banks() -> dict[str, Bank]:
    """The playable banks built from the single notes of ``instrec recordings`` (notebanks.py), one per library."""
    from instrec.datasets import recordings
    from instrec.datasets.synth.notebanks import NOTE_BANKS, bank_name

    licences = {r.library: r.licence for r in recordings.read_manifest()}
    return {bank_name(lib): Bank(bank_name(lib), f"{bank_name(lib)}-1.sf2", f"instrec recordings: {lib}", lib, (),
                                 lib, licences.get(lib, ""), default=False, kind="recordings")
            for lib in NOTE_BANKS}


BANKS.update(_note_banks())
PRESET_BANKS = 16  # synthesizer banks computed here (synthesizer.build_preset_bank), nothing to fetch
BANKS.update({f"synth-presets-{i}": Bank(f"synth-presets-{i}", f"synth-presets-{i}-1.sf2", "instrec (computed)", str(i),
                                         (), "synth-presets", "instrec's own (computed)", default=False, kind="synth")
              for i in range(PRESET_BANKS)})
DEFAULT_POOL = tuple(name for name, bank in BANKS.items() if bank.default)


def soundfont_dir() -> Path:
    from instrec.weights import cache_dir

    return cache_dir() / "soundfonts"


def _digest_ok(path: Path, bank: Bank) -> bool:
    """Whether ``path`` is the bank's file; a bank built from verified packages (npm) has no single digest."""
    from instrec.weights import sha256_of

    return not bank.sha256 or sha256_of(path) in bank.sha256


def locate(name: str, verify: bool = False) -> Path | None:
    """The file of bank ``name`` if it is in the cache, installed by the system, or (TimGM6mb) in pretty_midi."""
    bank = BANKS[name]
    candidates = [soundfont_dir() / bank.filename, bank.system_copy]
    if name == "timgm6mb":
        try:
            candidates.insert(0, default_soundfont())
        except InstrecError:  # pretty_midi not installed
            pass
    for path in candidates:
        if path is not None and path.is_file() and (not verify or _digest_ok(path, bank)):
            return path
    return None


def find_deb(package: str, deb_dir: Path | None, workdir: Path, by_hand: str, version: str | None = None) -> Path:
    """The .deb of ``package`` (at ``version`` where given): from ``deb_dir`` (a local mirror or fixture) or
    ``apt-get download`` into ``workdir``. ``by_hand`` ends the error messages: how to do without apt."""
    # apt writes an epoch as "1%3a" in the file name: match the version after it
    pattern = f"{package}_*{version.split(':')[-1]}_*.deb" if version else f"{package}_*.deb"
    if deb_dir is not None:
        found = sorted(Path(deb_dir).glob(pattern))
        if not found:
            raise InstrecError(f"{deb_dir}: no {pattern} there")
        return found[-1]
    apt = shutil.which("apt-get")
    if apt is None:
        raise InstrecError(f"apt-get not found: this is not a Debian/Ubuntu system; {by_hand}")
    done = subprocess.run([apt, "download", f"{package}={version}" if version else package], cwd=workdir,
                          capture_output=True, text=True)
    found = sorted(workdir.glob(pattern))
    if done.returncode != 0 or not found:
        reason = (done.stderr.strip().splitlines() or ["no file"])[-1]
        raise InstrecError(f"apt-get download {package} failed ({reason}); run `apt-get update` or {by_hand}")
    return found[-1]


@contextmanager
def unpacked_deb(package: str, deb_dir: str | Path | None, workdir: Path, by_hand: str, version: str | None = None):
    """(the .deb, the folder it is unpacked into) for ``package`` (``find_deb``), in a temporary folder inside
    ``workdir`` (so that a verified file moves into place on the same file system), removed afterwards."""
    dpkg = shutil.which("dpkg-deb")
    if dpkg is None:
        raise InstrecError(f"dpkg-deb not found; {by_hand}")
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix=".fetch-") as tmp:
        deb = find_deb(package, Path(deb_dir) if deb_dir else None, Path(tmp), by_hand, version)
        unpacked = Path(tmp) / "unpacked"
        done = subprocess.run([dpkg, "-x", str(deb), str(unpacked)], capture_output=True, text=True)
        if done.returncode != 0:
            raise InstrecError(f"{deb}: not a Debian package ({done.stderr.strip()})")
        yield deb, unpacked


def verified_member(deb: Path, unpacked: Path, package: str, member: str, digest: str) -> bytes:
    """The bytes of ``member`` (a path inside the package) of an unpacked .deb, checked against ``digest``; raises
    InstrecError in one line if the file is missing or not the expected one."""
    import hashlib

    path = unpacked / member
    if not path.is_file():
        raise InstrecError(f"{deb}: not a {package} package holding {member}")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise InstrecError(f"{deb}: {Path(member).name} has an unexpected sha256; expected {digest[:16]}...")
    return data


def fetch_bank(name: str, deb_dir: str | Path | None = None, npm_dir: str | Path | None = None) -> Path:
    """A verified copy of bank ``name`` (cache, system, downloaded .deb, or built from npm packages); raises
    InstrecError if none."""
    bank = BANKS[name]
    existing = locate(name, verify=True)
    if existing is not None:
        return existing
    target = soundfont_dir() / bank.filename
    if bank.kind == "npm":
        from instrec.datasets.synth.samplebank import build_sample_set

        return build_sample_set(name, target, npm_dir or os.environ.get("INSTREC_NPM_DIR") or None)
    if deb_dir is None and os.environ.get("INSTREC_DEB_DIR"):
        deb_dir = os.environ["INSTREC_DEB_DIR"]
    if bank.kind == "festival":
        from instrec.datasets.synth.singing import build_festival_bank

        return build_festival_bank(target, deb_dir)
    if bank.kind == "stk":
        from instrec.datasets.synth.mandolin import fetch_bodies

        return fetch_bodies(target, deb_dir)
    if bank.kind == "deb-pat":
        from instrec.datasets.synth.freepats import build_freepats_bank

        return build_freepats_bank(target, deb_dir)
    if bank.kind == "synth":  # member: the bank's index
        from instrec.datasets.synth.synthesizer import build_preset_bank

        return build_preset_bank(int(bank.member), target)
    if bank.kind == "recordings":  # member: the library whose fetched notes make the bank
        from instrec.datasets.synth.notebanks import build_note_bank

        return build_note_bank(bank.member, target)
    by_hand = f"copy {bank.filename} (package {bank.package}) into {soundfont_dir()} by hand"
    with unpacked_deb(bank.package, deb_dir, target.parent, by_hand) as (deb, unpacked):
        member = unpacked / bank.member
        if not member.is_file():
            raise InstrecError(f"{deb}: not a {bank.package} package holding {bank.member} (file missing)")
        if bank.kind == "deb-drumkit":
            member = _drum_kit(member, bank, deb)
        if not _digest_ok(member, bank):
            raise InstrecError(f"{deb}: {bank.filename} has an unexpected sha256; expected {bank.sha256[0][:16]}...")
        os.replace(member, target)  # same file system: the cache never holds a partial file
    return target


def _drum_kit(member: Path, bank: Bank, deb: Path) -> Path:
    """The package's kit (verified) moved to the percussion bank, written beside it."""
    from instrec.datasets.synth.samplebank import move_to_drum_bank
    from instrec.weights import sha256_of

    if sha256_of(member) != bank.source_sha256:
        raise InstrecError(f"{deb}: {member.name} has an unexpected sha256; expected {bank.source_sha256[:16]}...")
    moved = member.with_name(bank.filename)
    moved.write_bytes(move_to_drum_bank(member.read_bytes(), str(member)))
    return moved


def fetch(names: list[str] | None = None, deb_dir: str | Path | None = None,
          npm_dir: str | Path | None = None) -> tuple[dict[str, Path], dict[str, str]]:
    """Fetch several banks; returns (name -> path, name -> why it failed). One failure never stops the rest."""
    got, failed = {}, {}
    for name in names or DEFAULT_POOL:
        if name not in BANKS:
            raise InstrecError(f"unknown SoundFont bank {name!r}; known: {', '.join(BANKS)}")
        try:
            got[name] = fetch_bank(name, deb_dir, npm_dir)
        except InstrecError as exc:
            failed[name] = str(exc)
    return got, failed


def pool_paths(banks: list[str] | None = None, extra: list[str | Path] | None = None) -> list[Path]:
    """The SoundFont files of a pool: the named banks (default: every default bank found locally) plus
    the user's own files. A named bank that is not here is an error; the default pool takes what it finds."""
    paths: list[Path] = []
    for name in banks if banks is not None else DEFAULT_POOL:
        if name not in BANKS:
            raise InstrecError(f"unknown SoundFont bank {name!r}; known: {', '.join(BANKS)}")
        if BANKS[name].kind == "stk":
            raise InstrecError(f"{name}: not a SoundFont (the real stage's modelled mandolin); leave it out of the "
                               "banks to render from")
        path = locate(name)
        if path is None and banks is not None:
            raise InstrecError(f"SoundFont bank {name!r} is not here; run `instrec soundfonts fetch {name}`")
        if path is not None:
            paths.append(path)
    for p in extra or []:
        if Path(p) not in paths:
            paths.append(Path(p))
    return paths


def bank_name(path: str | Path) -> str:
    """The registered name of a SoundFont file (by file name), else its stem: what metadata and hold-outs call it."""
    path = Path(path)
    for bank in BANKS.values():
        if path.name == bank.filename:
            return bank.name
    return path.stem


def bank_group(name: str) -> str:
    return BANKS[name].group if name in BANKS else name


def split_banks(paths: list[Path], hold_out_bank: str | None, splits: tuple[str, ...]) -> dict[str, list[int]]:
    """split -> indices of the SoundFonts (in ``paths``) that may play in it: all of them, or under the hold-out
    protocol the held-out bank's group in ``test`` and every other bank elsewhere."""
    everything = list(range(len(paths)))
    if hold_out_bank is None:
        return {split: everything for split in splits}
    groups = [bank_group(bank_name(p)) for p in paths]
    held = bank_group(hold_out_bank)
    if held not in groups:
        raise InstrecError(f"--hold-out-bank {hold_out_bank}: not in the pool "
                           f"({', '.join(bank_name(p) for p in paths)}); pass a bank of the pool")
    if all(g == held for g in groups):
        raise InstrecError(f"--hold-out-bank {hold_out_bank}: no other bank left to train on; add banks to the pool")
    return {split: [i for i in everything if (groups[i] == held) == (split == "test")] for split in splits}


def only_timgm6mb(paths: list[Path]) -> bool:
    """Whether a pool holds nothing but the small bank that ships with pretty_midi (worth a word to the user)."""
    return [bank_name(p) for p in paths] == ["timgm6mb"]


ONLY_TIMGM6MB = "instrec: only TimGM6mb in the pool; `instrec soundfonts fetch` adds real-sample banks"
