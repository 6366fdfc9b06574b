"""The manifest rows of the instrument recordings found in seven Debian packages of other programs, printed as CSV.

Educational programs, music languages and game libraries in Debian ship a few recordings of instruments each, made
or chosen by their authors: an alphabet's instruments (qABCs), Scratch's sound library, the source material of
CsoundQt's and ChucK's examples, pyglet's and horgand's demos, Tux Paint's stamps. None is a sample library, but
together they are many sources of the instruments the project's libraries have from one maker only (guitar, bass),
recorded by other people in other rooms. Each package becomes one library (``debian.<package>``); the files are
stored as the package has them (WAV, Ogg Vorbis, MP3). The files listed here are those whose name says which
instrument plays alone; drums and cymbals, speech snippets of unknown content, effects and mixed loops are left
out. As training material they were measured twice and not taken (candidate 34, learned by the probe and its gate
alone: docs/experiments/2026-12-07-debian-instruments.md; candidate 35, used as every library:
docs/experiments/2026-12-07-debian-instruments-in-the-stage.md); they are not in the manifest, and serve as an
evaluation of sources the model never heard.

    python scripts/scrap_rows.py path/to/*.deb >> src/instrec/data/recordings/manifest.csv

With ``--extract DIR`` it writes the 52 files instead, as ``DIR/<package>/<file>``, and ``DIR/labels.csv``, to score
a model on (``instrec evaluate-audio --audio DIR``).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

# package -> (version, licence, folder inside the package, [(file, class, kind)])
PACKAGES = {
    "chuck-data": ("1.4.2.0-1", "GPL-2.0-or-later", "usr/share/doc/chuck-data/examples/", [
        ("special/geetar.wav", "guitar", "phrase")]),
    "csoundqt-examples": ("1.1.1+dfsg0-1", "LGPL-2.1-or-later", "usr/share/csoundqt/Examples/SourceMaterials/", [
        ("BassGuitarC.wav", "bass", "phrase"), ("ClassGuit.wav", "guitar", "phrase"),
        ("ClassicalGuitar.wav", "guitar", "phrase"), ("flute.wav", "flute", "phrase"),
        ("violins.wav", "violin", "phrase"), ("choir.wav", "voice", "phrase"), ("fox.wav", "voice", "phrase"),
        ("SynthPad.wav", "synthesizer", "phrase")]),
    "horgand-data": ("1.14-7.1", "GPL-2.0-only", "usr/share/horgand/", [
        ("AcousticBass.wav", "bass", "note"), ("FenderBass.wav", "bass", "note"),
        ("FretlessBass.wav", "bass", "note")]),
    "python3-pyglet": ("1.5.27+ds-2", "BSD-3-Clause", "usr/share/doc/python3-pyglet/examples/media/soundspace/res/", [
        ("bass.wav", "bass", "phrase"), ("guitar.wav", "guitar", "phrase"), ("piano.wav", "piano", "phrase")]),
    "qabcs-data": ("1.0.2-6", "GPL-3.0-or-later", "usr/share/qabcs/abcs/all/noises/", [
        ("accordion.ogg", "accordion", "phrase"), ("squeezebox.ogg", "accordion", "phrase"),
        ("cello.ogg", "cello", "phrase"), ("clarinet.ogg", "clarinet", "phrase"),
        ("electric_guitar.ogg", "guitar", "phrase"), ("guitar.ogg", "guitar", "phrase"),
        ("flute.ogg", "flute", "phrase"), ("western_concert_flute.ogg", "flute", "phrase"),
        ("grand_piano.ogg", "piano", "phrase"), ("piano.ogg", "piano", "phrase"),
        ("saxophone.ogg", "saxophone", "phrase"), ("trumpet.ogg", "trumpet", "phrase"),
        ("ukulele.ogg", "ukulele", "phrase"), ("violin.ogg", "violin", "phrase"),
        ("xylophone.ogg", "mallet_percussion", "phrase"), ("organ.ogg", "organ", "phrase"),
        ("hand_organ.ogg", "organ", "phrase")]),
    "scratch": ("1.4.0.6~dfsg1-6.1", "CC-BY-SA-3.0", "usr/share/scratch/Media/Sounds/", [
        ("Instruments/GuitarStrum.wav", "guitar", "phrase"), ("Instruments/Trumpet1.wav", "trumpet", "phrase"),
        ("Instruments/Trumpet2.wav", "trumpet", "phrase"), ("Music Loops/GuitarChords1.mp3", "guitar", "loop"),
        ("Music Loops/GuitarChords2.mp3", "guitar", "loop"), ("Music Loops/Xylo1.mp3", "mallet_percussion", "loop"),
        ("Music Loops/Xylo2.mp3", "mallet_percussion", "loop"), ("Music Loops/Xylo3.mp3", "mallet_percussion", "loop"),
        ("Music Loops/xylo4.mp3", "mallet_percussion", "loop"), ("Vocals/Singer1.wav", "voice", "phrase"),
        ("Vocals/Singer2.wav", "voice", "phrase"), ("Vocals/Come-and-play.mp3", "voice", "phrase"),
        ("Vocals/Doy-doy-doy.mp3", "voice", "phrase"), ("Vocals/Got-inspiration.mp3", "voice", "phrase"),
        ("Vocals/Hey-yay-hey.mp3", "voice", "phrase"), ("Vocals/Join-us.mp3", "voice", "phrase"),
        ("Vocals/Oooo-badada.mp3", "voice", "phrase"), ("Vocals/Sing-me-a-song.mp3", "voice", "phrase")]),
    "tuxpaint-stamps-default": ("2022.06.04-1", "GPL-2.0-only", "usr/share/tuxpaint/stamps/hobbies/music/", [
        ("string/cello.ogg", "cello", "phrase"), ("string/violin.ogg", "violin", "phrase")]),
}


def main() -> None:
    from instrec.datasets.recordings import FIELDS, manifest_row, package_files
    from instrec.io import atomic_path

    parser = argparse.ArgumentParser()
    parser.add_argument("deb", type=Path, nargs="+", help="the packages' .deb files (apt-get download PACKAGE)")
    parser.add_argument("--extract", type=Path, metavar="DIR",
                        help="write the files and a labels.csv into DIR instead of printing manifest rows")
    args = parser.parse_args()
    debs = {deb.name.split("_")[0]: deb for deb in args.deb}
    missing = sorted(set(PACKAGES) - set(debs))
    if missing:
        raise SystemExit(f"give the .deb of {', '.join(missing)} too (apt-get download {' '.join(missing)})")
    labels = []
    writer = csv.writer(sys.stdout, lineterminator="\n")
    for package, (version, licence, folder, files) in PACKAGES.items():
        wanted = {folder + name: (name.replace(" ", "-"), label, kind) for name, label, kind in files}
        found = package_files(debs[package], wanted.__contains__)
        if set(found) != set(wanted):
            raise SystemExit(f"{debs[package]}: lacks {', '.join(sorted(set(wanted) - set(found)))}")
        for upstream in sorted(wanted):
            stored, label, kind = wanted[upstream]  # the file's name in the library ("Music Loops" -> "Music-Loops")
            if args.extract:
                with atomic_path(args.extract / package / stored) as tmp:
                    tmp.write_bytes(found[upstream])
                labels.append((f"{package}/{stored}", label))
                continue
            rec = manifest_row(found[upstream], path=f"debian.{package}/{stored}", label=label,
                               source=f"debian:{package}", commit=version, upstream_path=upstream, licence=licence,
                               kind=kind)
            writer.writerow([getattr(rec, k) for k in FIELDS])
    if args.extract:
        with open(args.extract / "labels.csv", "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows([("file", "instruments"), *labels])
        print(f"{args.extract}: {len(labels)} files; instrec evaluate-audio --audio {args.extract}")


if __name__ == "__main__":
    main()
