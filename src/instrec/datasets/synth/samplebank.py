"""Banks made from recordings that do not come as General MIDI SoundFonts.

Two kinds, both turned into SoundFont files so the renderer, the hold-out protocol and the metadata treat them
like any other bank:

- **Sample packages** (:data:`SAMPLE_SETS`): one folder of single-note recordings per instrument, named by
  pitch (``C4.mp3``, ``As2.mp3``). The tonejs-instruments set (CC BY 3.0) is published on the npm registry as
  one package per instrument; each tarball is verified against its sha256, its notes are decoded, and
  :func:`write_sf2` writes one preset per instrument at the General MIDI program of that instrument, each
  recorded note covering the keys up to half way to its neighbours (no loops: a note lasts as long as it was
  recorded).
- **Drum kits** (:func:`move_to_drum_bank`): a SoundFont whose kit sits at bank 0 with General MIDI key
  numbers; its presets are moved to the percussion bank (128), where General MIDI channel 10 looks.

To place the packages by hand: download each ``<registry>/<package>/-/<package>-<version>.tgz`` named in
:data:`SAMPLE_SETS` into a folder and pass it as ``instrec soundfonts fetch tonejs --npm-dir FOLDER``.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instrec.errors import InstrecError
from instrec.io import atomic_path

NPM_REGISTRY = "https://registry.npmjs.org"
# sample sets are stored at 22.05 kHz: renders are at 16 kHz, and the synthesizer's linear interpolation aliases
# less from a band-limited source (and the bank is half the size of the 44.1 kHz recordings)
STORED_RATE = 22050
NOTE_NAME = r"([A-G])(s?)(-?\d)"  # tonejs names: C4 = MIDI 60, "s" = sharp
NOTE_FILE = re.compile(rf"^package/({NOTE_NAME})\.mp3$")
PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


@dataclass(frozen=True)
class Zone:
    """One recorded note: mono int16 ``samples`` at ``sample_rate``, pitch ``root_key``, played on keys
    ``key_low``..``key_high`` at velocities ``vel_low``..``vel_high``."""

    name: str
    samples: np.ndarray
    sample_rate: int
    root_key: int
    key_low: int
    key_high: int
    vel_low: int = 0
    vel_high: int = 127


@dataclass(frozen=True)
class Preset:
    name: str
    program: int
    bank: int
    zones: tuple[Zone, ...]


# SoundFont 2.01 generator numbers (section 8.1.2 of the specification)
GEN_RELEASE_VOL_ENV, GEN_INSTRUMENT, GEN_KEY_RANGE, GEN_VEL_RANGE, GEN_SAMPLE_ID, GEN_SAMPLE_MODES = 38, 41, 43, 44, 53, 54
SAMPLE_PADDING = 46  # zero data points the specification asks after each sample
RELEASE_TIMECENTS = -2400  # 0.25 s release (1200 * log2(seconds)): no click when a note is cut


def _chunk(tag: bytes, payload: bytes) -> bytes:
    return tag + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")


def _list(kind: bytes, chunks: list[bytes]) -> bytes:
    return _chunk(b"LIST", kind + b"".join(chunks))


def _name(text: str) -> bytes:
    return text.encode("ascii", "replace")[:19].ljust(20, b"\0")


def _gen(oper: int, amount: int) -> bytes:
    return struct.pack("<Hh", oper, amount)


def _range(oper: int, low: int, high: int) -> bytes:
    return struct.pack("<HBB", oper, low, high)


def write_sf2(path: str | Path, name: str, presets: list[Preset]) -> None:
    """Write ``presets`` as a SoundFont 2.01 file (atomically): one instrument per preset, one zone per note
    (a velocity range only where a zone has one, so banks without layers are written as they always were)."""
    smpl, shdr = [], []
    phdr, pbag, pgen, inst, ibag, igen = [], [], [], [], [], []
    offset = 0
    for preset in presets:
        phdr.append(_name(preset.name) + struct.pack("<HHHIII", preset.program, preset.bank, len(pbag), 0, 0, 0))
        pbag.append(struct.pack("<HH", len(pgen), 0))
        pgen.append(_gen(GEN_INSTRUMENT, len(inst)))
        inst.append(_name(preset.name) + struct.pack("<H", len(ibag)))
        for zone in preset.zones:
            ibag.append(struct.pack("<HH", len(igen), 0))
            igen.append(_range(GEN_KEY_RANGE, zone.key_low, zone.key_high))  # the specification: first, then velocity
            if (zone.vel_low, zone.vel_high) != (0, 127):
                igen.append(_range(GEN_VEL_RANGE, zone.vel_low, zone.vel_high))
            igen += [_gen(GEN_SAMPLE_MODES, 0),
                     _gen(GEN_RELEASE_VOL_ENV, RELEASE_TIMECENTS), _gen(GEN_SAMPLE_ID, len(shdr))]
            data = np.ascontiguousarray(zone.samples, "<i2")
            end = offset + data.size
            shdr.append(_name(zone.name) + struct.pack("<IIIIIBbHH", offset, end, offset, end, zone.sample_rate,
                                                       zone.root_key, 0, 0, 1))
            smpl += [data.tobytes(), bytes(2 * SAMPLE_PADDING)]
            offset = end + SAMPLE_PADDING
    phdr.append(_name("EOP") + struct.pack("<HHHIII", 0, 0, len(pbag), 0, 0, 0))
    pbag.append(struct.pack("<HH", len(pgen), 0))
    pgen.append(bytes(4))
    inst.append(_name("EOI") + struct.pack("<H", len(ibag)))
    ibag.append(struct.pack("<HH", len(igen), 0))
    igen.append(bytes(4))
    shdr.append(_name("EOS") + bytes(26))
    info = _list(b"INFO", [_chunk(b"ifil", struct.pack("<HH", 2, 1)), _chunk(b"isng", b"EMU8000\0"),
                           _chunk(b"INAM", name.encode("ascii", "replace") + b"\0")])
    sdta = _list(b"sdta", [_chunk(b"smpl", b"".join(smpl))])
    pdta = _list(b"pdta", [_chunk(b"phdr", b"".join(phdr)), _chunk(b"pbag", b"".join(pbag)),
                           _chunk(b"pmod", bytes(10)), _chunk(b"pgen", b"".join(pgen)),
                           _chunk(b"inst", b"".join(inst)), _chunk(b"ibag", b"".join(ibag)),
                           _chunk(b"imod", bytes(10)), _chunk(b"igen", b"".join(igen)),
                           _chunk(b"shdr", b"".join(shdr))])
    with atomic_path(path) as tmp:
        tmp.write_bytes(_chunk(b"RIFF", b"sfbk" + info + sdta + pdta))


def _chunks(data: bytes, start: int, end: int):
    """(tag, payload start, payload size) of the RIFF chunks in ``data[start:end]``."""
    pos = start
    while pos + 8 <= end:
        tag, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        yield tag, pos + 8, size
        pos += 8 + size + (size % 2)


def read_sf2(path: str | Path) -> list[Preset]:
    """The presets of a SoundFont with 16-bit samples, as :func:`write_sf2` writes them: each instrument zone with a
    sample becomes a :class:`Zone` (its key and velocity ranges, root key and rate; a zone's other generators, and
    preset-level ranges, are not read)."""
    data = Path(path).read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise InstrecError(f"{path}: not a SoundFont 2 file")
    smpl, tables = None, {}
    for tag, start, size in _chunks(data, 12, len(data)):
        if tag == b"LIST" and data[start:start + 4] in (b"sdta", b"pdta"):
            for sub, sub_start, sub_size in _chunks(data, start + 4, start + size):
                if sub == b"smpl":
                    smpl = np.frombuffer(data, "<i2", sub_size // 2, sub_start)
                else:
                    tables[sub] = data[sub_start:sub_start + sub_size]
    if smpl is None or not {b"phdr", b"pbag", b"pgen", b"inst", b"ibag", b"igen", b"shdr"} <= tables.keys():
        raise InstrecError(f"{path}: SoundFont without 16-bit samples or a complete preset table")

    def records(tag: bytes, size: int, fmt: str) -> list[tuple]:
        return [struct.unpack_from(fmt, tables[tag], i) for i in range(0, len(tables[tag]) - size + 1, size)]

    phdr = records(b"phdr", 38, "<20sHHHIII")
    pbag, ibag = records(b"pbag", 4, "<HH"), records(b"ibag", 4, "<HH")
    pgen, igen = records(b"pgen", 4, "<HH"), records(b"igen", 4, "<HBB")
    inst, shdr = records(b"inst", 22, "<20sH"), records(b"shdr", 46, "<20sIIIIIBbHH")

    def zones(i: int) -> tuple[Zone, ...]:
        out = []
        for bag in range(inst[i][1], inst[i + 1][1]):
            gens = {oper: (low, high) for oper, low, high in igen[ibag[bag][0]:ibag[bag + 1][0]]}
            if GEN_SAMPLE_ID not in gens:
                continue  # a global zone
            low, high = gens[GEN_SAMPLE_ID]
            name, start, end, _, _, rate, root = shdr[low | high << 8][:7]
            key, vel = gens.get(GEN_KEY_RANGE, (0, 127)), gens.get(GEN_VEL_RANGE, (0, 127))
            out.append(Zone(name.split(b"\0")[0].decode("ascii", "replace"), smpl[start:end].copy(), rate, root,
                            key[0], key[1], vel[0], vel[1]))
        return tuple(out)

    presets = []
    for p in range(len(phdr) - 1):  # the last record is EOP
        name, program, bank, bag = phdr[p][:4]
        found = []
        for b in range(bag, phdr[p + 1][3]):
            for oper, amount in pgen[pbag[b][0]:pbag[b + 1][0]]:
                if oper == GEN_INSTRUMENT:
                    found += zones(amount)
        presets.append(Preset(name.split(b"\0")[0].decode("ascii", "replace"), program, bank, tuple(found)))
    return presets


def move_to_drum_bank(data: bytes, source: str = "SoundFont") -> bytes:
    """The SoundFont ``data`` with every preset moved to bank 128 (General MIDI percussion)."""
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise InstrecError(f"{source}: not a SoundFont 2 file")
    out = bytearray(data)
    for tag, start, size in _chunks(data, 12, len(data)):
        if tag == b"LIST" and data[start:start + 4] == b"pdta":
            for sub, sub_start, sub_size in _chunks(data, start + 4, start + size):
                if sub == b"phdr":
                    for record in range(sub_start, sub_start + sub_size - 38, 38):  # the last record is EOP
                        struct.pack_into("<H", out, record + 22, 128)
                    return bytes(out)
    raise InstrecError(f"{source}: SoundFont without a preset table (pdta/phdr)")


@dataclass(frozen=True)
class SamplePackage:
    """One instrument of a sample set on the npm registry, and the General MIDI program it becomes."""

    package: str
    version: str
    sha256: str
    program: int

    @property
    def tarball(self) -> str:
        return f"{self.package}-{self.version}.tgz"

    def url(self, registry: str) -> str:
        return f"{registry.rstrip('/')}/{self.package}/-/{self.tarball}"


def _tonejs(instrument: str, version: str, sha256: str, program: int) -> SamplePackage:
    return SamplePackage(f"tonejs-instrument-{instrument}-mp3", version, sha256, program)


# tonejs-instruments (Nicholaus Brosowsky; npm packages by Makefully Studios): samples CC BY 3.0, taken from
# public-domain recordings of real instruments (trimmed, level-matched); the instruments of an OpenMIC class
SAMPLE_SETS: dict[str, tuple[SamplePackage, ...]] = {
    "tonejs": (
        _tonejs("piano", "1.1.2", "d564aa1c9cb691aa6816052924568cf40033ee5be3e32852872b4dcf93ecb446", 0),
        _tonejs("xylophone", "1.1.2", "c844fd335174b767856d05af77621b00077b885f3af8704dbf5d381ed6ee5505", 13),
        _tonejs("organ", "1.1.1", "b8268276de3d1f514cea405636aee1d977e33ce6ea531bfd262d23056d4489e1", 19),
        _tonejs("guitar-nylon", "1.1.1", "87328e71336dd5ef6cae0f24e3b8065302df986c914a799917fb45596e521aaa", 24),
        _tonejs("guitar-acoustic", "1.1.2", "8e8708d63a7a24854781a74202742f8130eca5a68e9880cb8c95db2e9c0705ff", 25),
        _tonejs("guitar-electric", "1.1.1", "166600df07ea0deb369b195be08d198f21da3318bf29765dd35a0800ef61b070", 26),
        _tonejs("contrabass", "1.1.2", "105a41e16e413ba3d0db2488e0012d449ff9b99eeff90cd2ed902c4ee3114faa", 32),
        _tonejs("bass-electric", "1.1.2", "7325081bfa65c00e33bf1d313ad426f55b84cffbcd80eaa992e24a1be8aee93c", 33),
        _tonejs("violin", "1.1.1", "9e6cd2495e894adbed3b55061871711bc888cdf44209ee6164b70adfa0b7764c", 40),
        _tonejs("cello", "1.1.1", "faddba054246478b8074d5f8b0182640b7f80caab457d580042a3db16d6b2192", 42),
        _tonejs("trumpet", "1.1.2", "da360305defe60c3f92470d44264738aa13279c60b074fb8f10e1286c5cc7355", 56),
        _tonejs("trombone", "1.1.2", "44c2d798aa41491d7b597d7213c969326f2477fec0f498ed221bdbafed25e46b", 57),
        _tonejs("saxophone", "1.1.2", "5871de2f8445199495d1cf2d6a404c4159807b9681197c9fb7fc1555934e3bbc", 65),
        _tonejs("clarinet", "1.1.2", "fb2dd7ffb98f902bb4ad307d2eb4ea1ccca2963f0db04f805d5ebfade94ed55e", 71),
        _tonejs("flute", "1.1.2", "d31e8938982200c3a7b295945a2526752f62f3779f1c71ae6be1f0cc96369396", 73),
    ),
}


def note_key(name: str) -> int:
    """MIDI key of a tonejs note name (``C4`` = 60, ``As2`` = A#2 = 46)."""
    match = re.fullmatch(NOTE_NAME, name)
    if match is None:
        raise ValueError(f"not a note name: {name!r}")
    letter, sharp, octave = match.groups()
    return 12 * (int(octave) + 1) + PITCH_CLASS[letter] + (1 if sharp else 0)


def key_ranges(roots: list[int]) -> list[tuple[int, int]]:
    """Keys each of the sorted ``roots`` plays: up to half way to its neighbours, the ends out to 0 and 127."""
    bounds = [0] + [(a + b) // 2 + 1 for a, b in zip(roots, roots[1:])] + [128]
    return [(low, high - 1) for low, high in zip(bounds, bounds[1:])]


def package_zones(tarball: bytes, source: str, sample_rate: int | None = None) -> tuple[Zone, ...]:
    """The recorded notes of one package's tarball (read in memory; nothing is extracted to disk), resampled
    to ``sample_rate`` where given."""
    import soundfile as sf
    import soxr

    notes = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
            for member in tar.getmembers():
                match = NOTE_FILE.match(member.name)
                if match is None or not member.isfile():
                    continue  # alternates ("F2 v2.mp3"), code and read-me files
                name = match.group(1)
                audio, rate = sf.read(io.BytesIO(tar.extractfile(member).read()), dtype="float32", always_2d=True)
                notes[note_key(name)] = (name, audio.mean(axis=1), rate)
    except (tarfile.TarError, OSError, RuntimeError) as exc:  # soundfile raises LibsndfileError (a RuntimeError)
        raise InstrecError(f"{source}: not a readable sample package ({exc}); delete it and fetch again") from None
    if not notes:
        raise InstrecError(f"{source}: no note recordings (package/<note>.mp3) in it")
    roots = sorted(notes)
    zones = []
    for root, (low, high) in zip(roots, key_ranges(roots)):
        name, audio, rate = notes[root]
        if sample_rate and rate != sample_rate:
            audio, rate = soxr.resample(audio, rate, sample_rate, quality="VHQ"), sample_rate
        samples = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
        zones.append(Zone(name, samples, int(rate), root, low, high))
    return tuple(zones)


def fetch_tarball(spec: SamplePackage, npm_dir: Path | None, timeout_s: float = 60.0) -> bytes:
    """The verified tarball of ``spec``: from ``npm_dir`` (placed by hand) or downloaded from the registry
    (``INSTREC_NPM_REGISTRY``, default npmjs.org)."""
    if npm_dir is not None:
        path = Path(npm_dir) / spec.tarball
        if not path.is_file():
            raise InstrecError(f"{path}: not there; download {spec.url(NPM_REGISTRY)} into {npm_dir}")
        data, source = path.read_bytes(), str(path)
    else:
        source = spec.url(os.environ.get("INSTREC_NPM_REGISTRY") or NPM_REGISTRY)
        try:
            with urllib.request.urlopen(source, timeout=timeout_s) as response:
                data = response.read()
        except OSError as exc:
            raise InstrecError(f"{source}: download failed ({exc}); download it by hand and pass "
                               f"--npm-dir FOLDER") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise InstrecError(f"{source}: sha256 {digest[:16]}... does not match {spec.sha256[:16]}...; "
                           f"delete it and fetch again")
    return data


def build_sample_set(name: str, target: Path, npm_dir: str | Path | None = None) -> Path:
    """Fetch and verify every package of sample set ``name``, and write them as one SoundFont at ``target``."""
    presets = []
    for spec in SAMPLE_SETS[name]:
        zones = package_zones(fetch_tarball(spec, Path(npm_dir) if npm_dir else None), spec.tarball, STORED_RATE)
        presets.append(Preset(spec.package, spec.program, 0, zones))
    write_sf2(target, name, presets)
    return target
