"""FreePats: the General MIDI patch set of the Debian package ``freepats``, as a SoundFont of whole recorded notes.

FreePats (freepats.zenvoid.org; GPL-2+ with an exception for compositions that use the patches) is a set of Gravis
UltraSound patches, most of them sampled from real instruments. Each patch holds a few recorded notes (waveforms),
each with the keys it covers, the key it was recorded at and, for sustained instruments, a loop that holds the
sound while a key is down. ``build_freepats_bank`` takes the patches of the General MIDI programs that
``classes.GM_PROGRAMS`` names (33 patches, 15 classes; each verified by its sha256), plays every waveform once at its
own key as a whole note (a loop repeated up to ``NOTE_SECONDS`` and faded out, as a key held that long), and writes
them as one SoundFont preset per program (``samplebank.write_sf2``, 22,050 Hz): a bank that renders like the others
and whose notes ``real_stage.bank_notes`` reads like the tonejs notes. The GUS envelopes, tremolo and vibrato are
not played.

To place the package by hand: download ``freepats_20060219-4_all.deb`` and run
``instrec soundfonts fetch freepats --deb-dir FOLDER``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instrec.errors import InstrecError

PACKAGE = "freepats"
VERSION = "20060219-4"
PATCH_DIR = "usr/share/midi/freepats"
NOTE_SECONDS = 2.0  # a looped waveform is held this long, then faded out over FADE_SECONDS
FADE_SECONDS = 0.3
# program -> (patch in PATCH_DIR, its sha256 in the package): every patch of the set at a program of GM_PROGRAMS
PATCHES: dict[int, tuple[str, str]] = {
    0: ("Tone_000/000_Acoustic_Grand_Piano.pat", "d2769247e01837946f9c7540d22e7e3e99cf49cf660f5efeaff58f0dbe73ea68"),
    1: ("Tone_000/001_Acoustic_Brite_Piano.pat", "f5e0172e9d56c1cc787a8d4d20f16bc97a7808de63804c1c07a77a4e1af4a043"),
    2: ("Tone_000/002_Electric_Grand_Piano.pat", "0e8f18da092f24803d92bd5751d7a08bd75a5be4bdd307bedc5ca7e23b2e1d94"),
    9: ("Tone_000/009_Glockenspiel.pat", "34e572114a6ab11e2fb2b0ae80e9230067d4adfa360945b0c262c73a030d0c1b"),
    13: ("Tone_000/013_Xylophone.pat", "b69edd9ff0619538fddf7eae6667619a60bce225a69932539d4dfddc1a0492c4"),
    16: ("Tone_000/016_Hammond_Organ.pat", "e369e6ecedab68f45e267c059c2816714d92f91f9e4fc476171b16dcc54942e8"),
    19: ("Tone_000/019_Church_Organ.pat", "6ef251d3eae8326ead5ac07889be831b06d12b64d5911c4924b3b17e36b93447"),
    21: ("Tone_000/021_Accordion.pat", "2a5933cd914527cf9873b8e91d1506868bb1cf8f9a9b63c5ab72c7387cda29be"),
    23: ("Tone_000/023_Tango_Accordion.pat", "848abba6823d1c4c8b0e13257d69309dc1067f170e7ca788eea96e26514a1839"),
    24: ("Tone_000/024_Nylon_Guitar.pat", "5334fa2d07d9d47a55ffb6c41c98ed3ed9180f3ded6a5e5f33a69e7b476cb3c4"),
    25: ("Tone_000/025_Steel_Guitar.pat", "1337f33548e7ae749ca4ab6f56231be0a69bc776a931b139ece18cf0f0c60283"),
    26: ("Tone_000/026_Jazz_Guitar.pat", "0f4222b92f189d0a6c4575d033c2f93ca22c6e2e22c695b5d3a16456f43f78d1"),
    27: ("Tone_000/027_Clean_Electric_Guitar.pat", "f9f2e8661eaf314e3a9f5a13d0a89587865294809672f128d9739077f9986ebe"),
    29: ("Tone_000/029_Overdriven_Guitar.pat", "f36aaf80c6a9459d97c650984f1a52fcc6e91f47e468598ea685fb9893fdd080"),
    30: ("Tone_000/030_Distortion_Guitar.pat", "57cbffd687a17cee62a64331cedfc4e8d3892d98dae450b662326168f3be3a8d"),
    32: ("Tone_000/032_Acoustic_Bass.pat", "023e6b58bd28a55fafeaf8a42d5d7d362f0d528cb5444f9447ad1557a0a5931e"),
    33: ("Tone_000/033_Finger_Bass.pat", "0e26751b195cddb14e41d0b98fc3800d0f16cde2b04a126b4dc12bc3670af50a"),
    34: ("Tone_000/034_Pick_Bass.pat", "0a013edc19b0a7c138de681dbedb5231d66811f95b9ff51ea2175fef69dfbca2"),
    35: ("Tone_000/035_Fretless_Bass.pat", "a2d72fcaa69b421c4fb38ac75c87646a6008e4da480fc44a0a9aa24c85ec85b8"),
    40: ("Tone_000/040_Violin.pat", "65ce8cd8d6f5d6a64e9e1f935a9bf3f598a54cc14661dcc71713219e3c3875a1"),
    42: ("Tone_000/042_Cello.pat", "c11af44104cb7a152582cf49e131616ede3ba642d7a9f9210f00a1e8553d2d4b"),
    53: ("Tone_000/053_Voice_Oohs.pat", "fcb038a3bc7f744e63f3e0ad8cac407f8e905d58a841865390c037204fd2c626"),
    56: ("Tone_000/056_Trumpet.pat", "271d96dafa1893499853ce7d93187f102000212ee583f46c45be0bf09159f06f"),
    57: ("Tone_000/057_Trombone.pat", "4ff8c9af3317327d63e4e27c494c103e1260764ef76bffae6b92f3aa6ab48d27"),
    59: ("Tone_000/059_Muted_Trumpet.pat", "c4456dab087b16c8927ae39794fdd97dbc15e0a670d2d29cfa0fcad07f95a8d6"),
    64: ("Tone_000/064_Soprano_Sax.pat", "44ae3e888a1e4714ec4608523b83489aea85aa78b3ab29012621ac5f64b94fc7"),
    65: ("Tone_000/065_Alto_Sax.pat", "4039b6a4a54223fa48e8f9dba3710279f6bfa462aa79de58b2d3f9b30952c3f1"),
    66: ("Tone_000/066_Tenor_Sax.pat", "d8ea73a8b4ab0ff0bb4705a5548c47fc8df3eedae2ad50e1350ffda990b63c20"),
    67: ("Tone_000/067_Baritone_Sax.pat", "b1b93792604b66e358ba8ad0ee7920c6ff93ad6e696c680f52120f55a01842b2"),
    71: ("Tone_000/071_Clarinet.pat", "f611ac07ea45002208b09659b65b9fddb829e23eb556869a53025ef52d29053d"),
    73: ("Tone_000/073_Flute.pat", "f0d580d848fad8dd44e78c5c513ed7f1a5b311a2b6f7728152b4f59d3aa3bdf8"),
    80: ("Tone_000/080_Square_Wave.pat", "cc76fda7a8378634ce564a28a6f30e4d69b6168498a28f3d72c2edfb4ab55edc"),
    88: ("Tone_000/088_New_Age.pat", "74364cb5fbc44846db1ec7569cf060b43734ca18c66b276c6f9c3b43770a6389"),
}

# the GF1 patch format (Gravis UltraSound): a 129-byte file header, a 63-byte instrument header, a 47-byte layer
# header, then per waveform a 96-byte header and its data
MAGICS = (b"GF1PATCH110\0", b"GF1PATCH100\0")
FILE_HEADER, INSTRUMENT_HEADER, LAYER_HEADER, WAVE_HEADER = 129, 63, 47, 96
MODE_16BIT, MODE_UNSIGNED, MODE_LOOP, MODE_PINGPONG, MODE_REVERSE = 1, 2, 4, 8, 16


@dataclass(frozen=True)
class Wave:
    """One recorded note of a patch: float ``samples`` in [-1, 1] at ``rate``, recorded at ``root_hz``, played for
    frequencies ``low_hz``..``high_hz``; ``loop`` the (start, end) sample of its sustain loop, or None."""

    samples: np.ndarray
    rate: int
    low_hz: float
    high_hz: float
    root_hz: float
    loop: tuple[int, int] | None
    pingpong: bool = False


def read_patch(data: bytes, name: str = "patch") -> list[Wave]:
    """The waveforms of a GF1 patch file's bytes; raises InstrecError naming ``name`` if it is not one."""
    if data[:12] not in MAGICS or len(data) < FILE_HEADER + INSTRUMENT_HEADER + LAYER_HEADER:
        raise InstrecError(f"{name}: not a GUS patch (GF1PATCH) file")
    (count,) = struct.unpack_from("<H", data, 85)
    offset = FILE_HEADER + INSTRUMENT_HEADER + LAYER_HEADER
    waves = []
    for _ in range(count):
        if offset + WAVE_HEADER > len(data):
            raise InstrecError(f"{name}: truncated GUS patch (waveform header {len(waves) + 1} of {count})")
        size, loop_start, loop_end = struct.unpack_from("<III", data, offset + 8)
        (rate,) = struct.unpack_from("<H", data, offset + 20)
        low, high, root = struct.unpack_from("<III", data, offset + 22)
        modes = data[offset + 55]
        raw = data[offset + WAVE_HEADER:offset + WAVE_HEADER + size]
        if len(raw) < size or rate == 0 or root == 0:
            raise InstrecError(f"{name}: truncated or empty GUS patch waveform {len(waves) + 1} of {count}")
        offset += WAVE_HEADER + size
        width = 2 if modes & MODE_16BIT else 1
        kind = {(2, False): "<i2", (2, True): "<u2", (1, False): "i1", (1, True): "u1"}[width, bool(modes & MODE_UNSIGNED)]
        x = np.frombuffer(raw[:size - size % width], kind).astype(np.float64)
        if modes & MODE_UNSIGNED:
            x -= 2 ** (8 * width - 1)
        x /= 2 ** (8 * width - 1)
        if modes & MODE_REVERSE:
            x = x[::-1]
        start, end = loop_start // width, loop_end // width
        loop = (start, end) if modes & MODE_LOOP and 0 <= start < end <= x.size else None
        waves.append(Wave(x.astype(np.float32), int(rate), low / 1000.0, high / 1000.0, root / 1000.0, loop,
                          bool(modes & MODE_PINGPONG)))
    return waves


def held_note(wave: Wave, seconds: float = NOTE_SECONDS, fade: float = FADE_SECONDS) -> np.ndarray:
    """The waveform played once as a key held ``seconds`` (at the wave's own rate): its loop, if any, repeated until
    then (forward and back for a ping-pong loop), the rest after the loop dropped, and ``fade`` seconds faded out.
    A waveform without a loop is played as recorded."""
    x = wave.samples
    if wave.loop is None:
        return x.copy()
    start, end = wave.loop
    cycle = x[start:end]
    if wave.pingpong and cycle.size > 2:
        cycle = np.concatenate([cycle, cycle[-2:0:-1]])
    total = max(int(seconds * wave.rate), end)
    repeats = int(np.ceil((total - start) / cycle.size))
    held = np.concatenate([x[:start], np.tile(cycle, repeats)])[:total]
    n = min(int(fade * wave.rate), held.size)
    held[held.size - n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return held


def hz_to_key(hz: float) -> int:
    return int(np.clip(round(69 + 12 * np.log2(max(hz, 1e-3) / 440.0)), 0, 127))


def presets_from_patches(patches: dict[int, bytes]):
    """program -> patch bytes as ``samplebank.Preset``s (bank 0): every waveform a held note at 22,050 Hz at its own
    key, covering the keys of its frequency range."""
    import soxr

    from instrec.datasets.synth.samplebank import STORED_RATE, Preset, Zone

    presets = []
    for program in sorted(patches):
        name = Path(PATCHES[program][0]).stem if program in PATCHES else f"program {program}"
        zones = []
        for i, wave in enumerate(read_patch(patches[program], name)):
            note = soxr.resample(held_note(wave), wave.rate, STORED_RATE, quality="VHQ")
            peak = float(np.max(np.abs(note))) if note.size else 0.0
            if peak <= 0:
                continue
            samples = np.round(note / max(peak, 1.0) * 32767).astype(np.int16)
            root = hz_to_key(wave.root_hz)
            low, high = sorted((hz_to_key(wave.low_hz), hz_to_key(wave.high_hz)))
            zones.append(Zone(f"{name[:14]}{i:02d}", samples, STORED_RATE, root, min(low, root), max(high, root)))
        if zones:
            presets.append(Preset(name[:19], program, 0, tuple(zones)))
    return presets


def build_freepats_bank(target: Path, deb_dir: str | Path | None = None) -> Path:
    """The FreePats SoundFont at ``target`` (atomically), from the Debian package (``deb_dir`` or ``apt-get
    download``), every patch verified by its sha256."""
    from instrec.datasets.synth.samplebank import write_sf2
    from instrec.datasets.synth.soundfonts import unpacked_deb, verified_member

    by_hand = f"download {PACKAGE}_{VERSION}_all.deb and run `instrec soundfonts fetch freepats --deb-dir` on its folder"
    patches = {}
    with unpacked_deb(PACKAGE, deb_dir, target.parent, by_hand, VERSION) as (deb, unpacked):
        for program, (member, digest) in PATCHES.items():
            patches[program] = verified_member(deb, unpacked, PACKAGE, f"{PATCH_DIR}/{member}", digest)
    write_sf2(target, "FreePats", presets_from_patches(patches))
    return target
