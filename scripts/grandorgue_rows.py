"""The manifest rows of the GrandOrgue demo sample set's pipes (Debian ``grandorgue-demo``), printed as CSV.

The package holds one ZIP archive (``.orgue``) of WavPack samples: one sustained pipe per file, recorded by Lars
Palo (GPL-2.0-or-later or CC-BY-SA-2.5), seven ranks. The stop and motor noises (``Sounds/``) are left out. The
ranks become two libraries, so that the folds can hold one out and train on the other:
``debian.grandorgue-demo.flue`` (Bourdon 8', Flute harmonique 8', Montre 8', Octavin 2': flutes and the principal)
and ``debian.grandorgue-demo.gamba-reed`` (Gamba 8', Hautbois 8', Trompette 8': the string and the reeds).

    python scripts/grandorgue_rows.py path/to/grandorgue-demo_3.9.5-1_all.deb >> src/instrec/data/recordings/manifest.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import zipfile
from pathlib import Path

VERSION = "3.9.5-1"
ARCHIVE = "usr/share/GrandOrgue/packages/demo-4232D4C616E4B99145537F02B34D342D4E3E3808.orgue"
RANKS = {"Bourdon8": "flue", "FlHarm8": "flue", "Montre8": "flue", "Octavin2": "flue",
         "Gamba8": "gamba-reed", "Hautbois8": "gamba-reed", "Trompette8": "gamba-reed"}
LICENCE = "GPL-2.0-or-later OR CC-BY-SA-2.5"


def main() -> None:
    from instrec.datasets.recordings import FIELDS, IN_ARCHIVE, manifest_row, package_files

    parser = argparse.ArgumentParser()
    parser.add_argument("deb", type=Path)
    args = parser.parse_args()
    data = package_files(args.deb, lambda name: name == ARCHIVE)[ARCHIVE]
    writer = csv.writer(sys.stdout, lineterminator="\n")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in sorted(archive.namelist()):
            rank = member.split("/")[0]
            if rank not in RANKS or not member.endswith(".wav"):
                continue
            rec = manifest_row(archive.read(member), path=f"debian.grandorgue-demo.{RANKS[rank]}/{member[:-4]}.flac",
                               label="organ", source="debian:grandorgue-demo", commit=VERSION,
                               upstream_path=ARCHIVE + IN_ARCHIVE + member, licence=LICENCE, kind="note")
            writer.writerow([getattr(rec, k) for k in FIELDS])


if __name__ == "__main__":
    main()
