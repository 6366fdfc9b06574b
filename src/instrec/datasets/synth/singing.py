"""A bank of sung notes: the voice class from recordings of human voices instead of General MIDI "choir aahs".

No General MIDI bank sings: its voice programs (52 choir aahs, 53 voice oohs) are pads of many voices, so a model
trained on them hears a solo singer as a cello. The Festival speech synthesizer's diphone voices are
recordings of nine real speakers (American English, Italian, Czech and Finnish; men, women and a child), each
cut into every transition between two phones; Festival joins them and moves them to any pitch and length
(residual-excited LPC / pitch-synchronous overlap-add), so it sings a syllable on a note with the timbre and formants of a
human voice (not a sung voice: no singer's formant, a plain pitch contour; the renderer adds vibrato).

:func:`build_festival_bank` fetches the Debian packages of Festival and its voices (each .deb verified against
its sha256; ``apt-get download`` or a folder of them), unpacks them in a temporary folder without installing
anything, runs Festival there to sing each note of :data:`LAYOUT`, and writes the notes as a SoundFont
(``samplebank.write_sf2``) with two voice presets at programs 52 and 53. In each, the key chooses the register
(low keys men, high keys women and the child) and the velocity one of two singers; the syllable changes
from note to note. Needs Linux on x86-64 (Festival is a native program); to place the packages by hand,
download every .deb of :data:`PACKAGES` (``apt-get download NAME=VERSION``) into a folder and pass it as
``--deb-dir``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instrec.errors import InstrecError

# (package, version, sha256 of the .deb): Festival 2.5, the libraries it links that a minimal system lacks,
# its English, Italian and Czech language support, and nine diphone voices (Debian 12 "bookworm", main)
PACKAGES: tuple[tuple[str, str, str], ...] = (
    ("festival", "1:2.5.0-9", "d635d3aebabb5e4bf4d2f1f1bb65a0de4ca1b4ffd8e52bd473b17d3e235e88a7"),
    ("libestools2.5", "1:2.5.0-13", "c5d7a7ea3f17c5779b7f47b40ba622d5f6a22242b05a20f746e05f0b07a883fb"),
    ("libpulse0", "16.1+dfsg1-2+b1", "7b2c5403cb726312219aad678becc6d6adcee1d8694fdffce0b6ec15ae010831"),
    ("libasyncns0", "0.8-6+b3", "cadaff99f4178b1f580331045621b363abaaefc994e78eecba1857774a3cead2"),
    ("libsndfile1", "1.2.0-1+deb12u1", "02dc3f08fe8476e82e005f412e3b7289ff641180f33a9be8073f4bde61c85e8e"),
    ("libflac12", "1.4.2+ds-2", "4d8431c274eef13ec9ee2c0bf988c34b4342367dec053b7f69a432525be5b1fe"),
    ("libmp3lame0", "3.100-6", "b1292c749172e7623547ecf684da57d3ec6ca22109f08b11bbb9e6be6e6beb95"),
    ("libmpg123-0", "1.31.2-1+deb12u1", "a10ad0d59995b859797a5f20d2833672051d0b2c7dab4c71f2e79258b2e3f631"),
    ("libogg0", "1.3.5-3", "f67acb0477aed0354f411172e37af338f3ac6bd4f3766134a2cf5539884b5a28"),
    ("libopus0", "1.3.1-3", "c172e212f9039e741916aa8e12f3670d1e049dc0c16685325641288c2d83faa7"),
    ("libvorbis0a", "1.3.7-1", "01c14f9d1109650077a4c5c337c285476a6932d4d448f5a190c2b845724dbf21"),
    ("libvorbisenc2", "1.3.7-1", "75dd4d6f904c7db82f5112e60d8efea9e81dfedf94e970c5da7af2b3d81643c0"),
    ("festlex-cmu", "2.4-2", "9c4ca30881e987998abd51bed538e08d960aa08e8f003461c8c246da97235bbb"),
    ("festlex-poslex", "2.4-1", "bb0b51d8f99ee829ce43f4aa0983d5b63d50225dcbdd24a9b14d18e24fddc684"),
    ("festlex-ifd", "2.0+debian0-6", "8f98f36c50fab70ee073d1e07d8e7444f003712d5d5222f6d83516e825f36d7a"),
    ("festival-czech", "0.3-6", "bb1c3763de06b2b744aaa48d78537eaf3f10f2af9a92691479b4f8f2142da7d0"),
    ("festvox-kallpc16k", "2.4-1", "bb21a90974a2754044c6dc11e4cf958aa8ba91ddb312e20ea7a114f3b73dadae"),
    ("festvox-kdlpc16k", "1.4.0-6.1", "3c359e51b6c85d5f5e00368804c52a68f551b1961ee03a79dde5245bc1accb6c"),
    ("festvox-italp16k", "2.0+debian0-6", "4acbcabf7e81cf284e1f7db9135d7761e44c6bb3f9dda85727291fe95942f525"),
    ("festvox-itapc16k", "2.0+debian0-6", "832c8c4cede93ef292132f8a7b5d6cddaad0046e348517d8445b4a4a906f09e6"),
    ("festvox-czech-dita", "1.0.0-5", "f4dc1c03c8815beeeeed8c8cc18c9c26f381ad0eadb10727ff5f850826e51cf0"),
    ("festvox-czech-krb", "1.0.0-5", "802a6e647417437643de1ede07b54aeebdc4b180f01844a1b29480f7239fe784"),
    ("festvox-czech-machac", "1.0.0-5", "76270a4526ed8222a840d272d32124854b242ccdcc4422d446f6a1f06576bb0f"),
    ("festvox-suopuhe-common", "1.0g-20051204-5", "10176ea1b6f7bac4e7716d98fcdf2279219d29fdc56f65bc807431a0580f0a01"),
    ("festvox-suopuhe-lj", "1.0g-20051204-5", "4ea3d165b7ac737c114e02397a442c58a86cb5c78c5ab4e68c49785ca3b1c52d"),
    ("festvox-suopuhe-mv", "20041119-3", "9d58130e6554d371944e62dc67e3e250c107924e92f0c9cecdf287dbca8a7e68"),
)


@dataclass(frozen=True)
class Singer:
    """A Festival voice: the Scheme that selects it, its phone names for the vowels a e i o u, and its pause."""

    name: str
    select: str
    vowels: tuple[str, str, str, str, str]
    pause: str


def _czech(name: str) -> Singer:
    # the Czech voices name their diphone file by an absolute path; defvar before loading keeps ours
    return Singer(name, f'(defvar czech-{name}-unisyn-index "{{voices}}/czech/czech_{name}/group/{name}.group")\n'
                        f"(voice_czech_{name})", ("a:", "e:", "i:", "o:", "u:"), "#")


SINGERS: dict[str, Singer] = {s.name: s for s in (
    Singer("kal", "(voice_kal_diphone)", ("aa", "eh", "iy", "ao", "uw"), "pau"),  # American English, man
    Singer("ked", "(voice_ked_diphone)", ("aa", "eh", "iy", "ao", "uw"), "pau"),  # American English, man
    Singer("lp", "(voice_lp_diphone)", ("a1", "e1", "i1", "o1", "u1"), "#"),  # Italian, woman
    Singer("pc", "(voice_pc_diphone)", ("a1", "e1", "i1", "o1", "u1"), "#"),  # Italian, man
    _czech("dita"),  # Czech, woman
    _czech("krb"),  # Czech, child
    _czech("machac"),  # Czech, man
    Singer("lj", "(voice_suo_fi_lj_diphone)", ("a:", "e:", "i:", "o:", "u:"), "#"),  # Finnish, woman
    Singer("mv", "(voice_hy_fi_mv_diphone)", ("a:", "e:", "i:", "o:", "u:"), "#"),  # Finnish, man
)}

# program -> registers: (lowest key, highest key, (singer of velocities 1-79, singer of velocities 80-127))
LAYOUT: dict[int, tuple[tuple[int, int, tuple[str, str]], ...]] = {
    52: ((0, 59, ("kal", "mv")), (60, 67, ("machac", "dita")), (68, 127, ("lp", "krb"))),
    53: ((0, 59, ("ked", "pc")), (60, 67, ("pc", "lj")), (68, 127, ("lj", "dita"))),
}
VELOCITY_SPLIT = 80
# the voice class plays keys 53-76. Festival's diphone synthesis crashes above about 500 Hz (key 71), so roots
# stop there (the top register's highest is 70) and the highest root also plays the keys above it (key 76: 6
# semitones up, resampled as in any SoundFont zone)
SUNG_KEYS = (51, 71)
ROOT_STEP = 2
# (onset consonant or "", vowel index into Singer.vowels): a e i o u
SYLLABLES = (("l", 0), ("", 0), ("m", 3), ("n", 4), ("l", 1), ("d", 0), ("", 3), ("l", 2), ("m", 0), ("n", 3))
NOTE_S = 2.6  # the sung vowel; the onset consonant and the short pauses around it add about 0.2 s
RMS_LEVEL = 0.1


@dataclass(frozen=True)
class SungNote:
    program: int
    singer: str
    root: int
    key_low: int
    key_high: int
    vel_low: int
    vel_high: int
    syllable: tuple[str, int]

    @property
    def name(self) -> str:
        return f"{self.singer}-{self.program}-{self.root}-{self.vel_low}"


def sung_notes() -> list[SungNote]:
    """Every note of the bank: per program and register, roots every ROOT_STEP semitones, each key range up
    to half way to the neighbouring roots, two velocity layers of two singers."""
    from instrec.datasets.synth.samplebank import key_ranges

    notes = []
    for program, registers in LAYOUT.items():
        for low, high, singers in registers:
            roots = list(range(max(low, SUNG_KEYS[0]), min(high, SUNG_KEYS[1]) + 1, ROOT_STEP))
            ranges = [(max(a, low), min(b, high)) for a, b in key_ranges(roots)]
            for root, (key_low, key_high) in zip(roots, ranges):
                for layer, (singer, (vel_low, vel_high)) in enumerate(zip(singers, ((1, VELOCITY_SPLIT - 1),
                                                                                     (VELOCITY_SPLIT, 127)))):
                    syllable = SYLLABLES[(root + 3 * layer + program) % len(SYLLABLES)]
                    notes.append(SungNote(program, singer, root, key_low, key_high, vel_low, vel_high, syllable))
    return notes


def segments(note: SungNote, rng: np.random.Generator) -> str:
    """The Festival ``Segments`` utterance that sings ``note``: (phone duration (position f0) ...), positions
    relative to the phone. The pitch scoops up a quarter tone into the note, wanders by a few cents, and
    falls a little at the end."""
    singer = SINGERS[note.singer]
    hz = 440.0 * 2 ** ((note.root - 69) / 12)

    def cents(offset: float) -> float:
        return round(hz * 2 ** (offset / 1200), 2)

    consonant, vowel = note.syllable
    phones = [f"({singer.pause} 0.05)"]
    if consonant:
        phones.append(f"({consonant} 0.08 (0 {cents(-50)}))")
    wander = rng.uniform(-8, 8, size=6)
    targets = [(0.0, cents(-50 if not consonant else -25)), (0.04, cents(0))]
    targets += [(round(0.1 + 0.15 * i, 3), cents(c)) for i, c in enumerate(wander)]
    targets.append((1.0, cents(-30)))
    phones.append(f"({singer.vowels[vowel]} {NOTE_S} " + " ".join(f"({p} {f})" for p, f in targets) + ")")
    phones.append(f"({singer.pause} 0.05)")
    return "(" + " ".join(phones) + ")"


def festival_script(notes: list[SungNote], out_dir: Path, voices_dir: Path, seed: int = 0) -> str:
    """One Scheme program that sings every note of one singer into ``out_dir/<note name>.wav``."""
    rng = np.random.default_rng(seed)
    singers = {n.singer for n in notes}
    if len(singers) != 1:
        raise ValueError("one singer per Festival script")
    lines = [SINGERS[singers.pop()].select.replace("{voices}", str(voices_dir))]
    for note in notes:
        lines.append(f"(set! utt (utt.synth (Utterance Segments {segments(note, rng)})))")
        lines.append(f'(utt.save.wave utt "{out_dir / (note.name + ".wav")}" \'riff)')
    return "\n".join(lines) + "\n"


def _unpack(deb_dir: Path | None, work: Path) -> Path:
    """Every package of PACKAGES verified and unpacked under ``work/root``."""
    from instrec.datasets.synth.soundfonts import find_deb
    from instrec.weights import sha256_of

    root = work / "root"
    root.mkdir(parents=True, exist_ok=True)
    for package, version, sha256 in PACKAGES:
        deb = find_deb(package, deb_dir, work, version=version, by_hand="pass --deb-dir FOLDER holding every "
                       "package of instrec.datasets.synth.singing.PACKAGES")
        if sha256_of(deb) != sha256:
            raise InstrecError(f"{deb}: sha256 does not match {package} {version} ({sha256[:16]}...); "
                               f"delete it and fetch again")
        done = subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], capture_output=True, text=True)
        if done.returncode != 0:
            raise InstrecError(f"{deb}: dpkg-deb -x failed ({done.stderr.strip()})")
    return root


def sing(notes: list[SungNote], root: Path, out_dir: Path, timeout_s: float = 600.0) -> None:
    """Run the unpacked Festival once per singer; every note ends up as a WAV file in ``out_dir``."""
    libdir = root / "usr/share/festival"
    libs = root / "usr/lib/x86_64-linux-gnu"
    env = {**os.environ, "FESTLIBDIR": str(libdir),
           "LD_LIBRARY_PATH": os.pathsep.join([str(libs), str(libs / "pulseaudio"),
                                               os.environ.get("LD_LIBRARY_PATH", "")])}
    for i, name in enumerate(SINGERS):
        mine = [n for n in notes if n.singer == name]
        if not mine:
            continue
        script = out_dir / f"{name}.scm"
        script.write_text(festival_script(mine, out_dir, libdir / "voices", seed=i))
        try:
            done = subprocess.run([str(root / "usr/bin/festival"), "--datadir", str(libdir), "-b", str(script)],
                                  capture_output=True, text=True, env=env, timeout=timeout_s)
        except OSError as exc:
            raise InstrecError(f"Festival would not run ({exc}); the festival bank needs Linux on x86-64") from None
        missing = [n.name for n in mine if not (out_dir / f"{n.name}.wav").is_file()]
        if done.returncode != 0 or missing:
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise InstrecError(f"Festival failed to sing {name}'s notes ({reason})")


def build_festival_bank(target: Path, deb_dir: str | Path | None = None) -> Path:
    """Fetch and verify Festival and its voices, sing every note of :func:`sung_notes`, write the SoundFont."""
    import soundfile as sf

    from instrec.datasets.synth.samplebank import Preset, Zone, write_sf2

    if shutil.which("dpkg-deb") is None:
        raise InstrecError("dpkg-deb not found: the festival bank is built from Debian packages on Linux")
    notes = sung_notes()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        work = Path(tmp)
        root = _unpack(Path(deb_dir) if deb_dir else None, work)
        out = work / "sung"
        out.mkdir()
        sing(notes, root, out)
        presets = []
        for program in LAYOUT:
            zones = []
            for note in (n for n in notes if n.program == program):
                audio, rate = sf.read(out / f"{note.name}.wav", dtype="float32")
                audio = audio * (RMS_LEVEL / max(float(np.sqrt(np.mean(audio ** 2))), 1e-6))
                samples = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
                zones.append(Zone(note.name, samples, int(rate), note.root, note.key_low, note.key_high,
                                  note.vel_low, note.vel_high))
            presets.append(Preset(f"Festival singers {program}", program, 0, tuple(zones)))
        write_sf2(target, "festival singers", presets)
    return target
