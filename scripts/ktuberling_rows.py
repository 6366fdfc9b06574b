"""The manifest rows of KTuberling's spoken words (Debian ``ktuberling-data``), printed as CSV.

KTuberling, KDE's stamp-drawing toy for children, says the name of each stamp aloud: words read by volunteers in 23
languages (GPL-2.0-or-later; the package's copyright file names the KDE team and its contributors), each language
its own speaker, microphone and room, from 8 kHz telephone-band WAV to 48 kHz Opus. The files are stored as the
package has them; a file the package holds twice (the four Serbian scripts share one set of recordings, a few words
are shared between languages) is listed once, at its first path in sorted order.

The languages become three libraries, one per source fold, so that each fold holds a third of the speakers out. A
language KLettres also has (``debian.klettres-data.<lang>``) goes with KLettres' fold, as the same volunteer may have
read both: ``group1`` with fold A (Dutch, Russian, Lithuanian), ``group2`` with fold B (Ukrainian, Portuguese,
Norwegian Nynorsk), ``group3`` with fold C (Low German).

    python scripts/ktuberling_rows.py path/to/ktuberling-data_22.12.3-1_all.deb >> src/instrec/data/recordings/manifest.csv
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path

VERSION = "4:22.12.3-1"
ROOT = "usr/share/ktuberling/sounds/"
GROUPS = {"group1": ("nl", "ru", "lt", "de", "en", "sl"),
          "group2": ("uk", "pt", "nn", "da", "es", "it", "ro"),
          "group3": ("nds", "fr", "ca", "el", "gl", "wa", "ga", "sv", "fi", "sr")}
LICENCE = "GPL-2.0-or-later"


def main() -> None:
    from instrec.datasets.recordings import FIELDS, manifest_row, package_files

    parser = argparse.ArgumentParser()
    parser.add_argument("deb", type=Path)
    args = parser.parse_args()
    group_of = {lang: group for group, langs in GROUPS.items() for lang in langs}

    def spoken(name: str) -> bool:  # a language's word: ROOT/<lang>/<file>
        parts = name.removeprefix(ROOT).split("/")
        return name.startswith(ROOT) and len(parts) == 2 and parts[0] in group_of

    files = package_files(args.deb, spoken)
    seen = set()  # a file the package holds twice is listed once, at its first path
    writer = csv.writer(sys.stdout, lineterminator="\n")
    for name in sorted(files):
        digest = hashlib.sha256(files[name]).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        lang, word = name.removeprefix(ROOT).split("/")
        rec = manifest_row(files[name], path=f"debian.ktuberling-data.{group_of[lang]}/{lang}/{word}", label="voice",
                           source="debian:ktuberling-data", commit=VERSION, upstream_path=name, licence=LICENCE,
                           kind="phrase")
        writer.writerow([getattr(rec, k) for k in FIELDS])


if __name__ == "__main__":
    main()
