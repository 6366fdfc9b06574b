"""The README's quick start and the documents' indexes cannot drift from what the project does.

Every command of the README's quick-start section is run as written, with its example paths (``song.mp3``,
``my-music/``, ...) standing for small real files; the lab notebook's index must list every page.
"""

import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from instrec.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def section(text: str, title: str) -> str:
    """The text of the ``## title...`` section, up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(title)}.*?$(.*?)(?=^## )", text, flags=re.M | re.S)
    assert match, f"README.md has no section '## {title}'"
    return match.group(1)


def quick_start_commands() -> list[str]:
    text = section(README.read_text(), "Quick start")
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    lines = [line.split(" # ")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("instrec ")]


def test_quick_start_has_the_commands_a_newcomer_needs():
    commands = quick_start_commands()
    assert {shlex.split(c)[1] for c in commands} >= {"predict", "evaluate-audio"}
    assert any("--plot" in c for c in commands)
    setup = section(README.read_text(), "Set up")
    assert "make install" in setup and "torch==2.13.0" in setup  # the CPU wheel pinned first


@pytest.fixture
def examples(tmp_path) -> dict[str, str]:
    """The quick start's example paths, as small real recordings in a scratch folder."""
    real_dev = ROOT / "tests" / "fixtures" / "real-dev"
    music = tmp_path / "my-music"
    (music / "live").mkdir(parents=True)
    for name, into in (("egfxset__6-22.wav", music), ("dagstuhl_choirset__DCS_LI_QuartetB_Take04_A2_DYN.wav",
                                                       music / "live")):
        shutil.copy(real_dev / name, into / name)
    audio, rate = sf.read(real_dev / "egfxset__6-22.wav", always_2d=True)
    sf.write(tmp_path / "song.mp3", np.tile(audio, (3, 1)), rate, format="MP3")
    return {"song.mp3": str(tmp_path / "song.mp3"), "my-music/": str(music) + "/",
            "timelines/": str(tmp_path / "timelines") + "/", "instruments.csv": str(tmp_path / "instruments.csv")}


def test_every_quick_start_command_runs(examples, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    for command in quick_start_commands():
        argv = shlex.split(command)[1:]
        redirect = None
        if ">" in argv:
            redirect = argv[argv.index(">") + 1]
            argv = argv[:argv.index(">")]
        unknown = [a for a in argv if not a.startswith("-") and ("/" in a or "." in a) and a not in examples
                   and not (ROOT / a).exists()]
        assert not unknown, f"README quick start: {command!r} names {unknown}; add them to the test's examples"
        argv = [examples.get(a, a) for a in argv]
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 0, f"README quick start: {command!r} exited {code}: {err}"
        if redirect:
            Path(examples.get(redirect, redirect)).write_text(out)
        if argv[0] == "predict" and "--plot" in argv:
            plots = list(Path(argv[argv.index("--plot") + 1]).rglob("*.png"))
            assert len(plots) == 2, plots  # one picture per file of the folder
        if argv[0] == "predict" and "--format" not in argv:
            assert "song.mp3" in out or "my-music" in out
    rows = Path(examples["instruments.csv"]).read_text().splitlines()
    assert rows[0] == "file,instrument,probability,present" and len(rows) == 1 + 2 * 20


def test_lab_notebook_index_lists_every_page():
    notebook = ROOT / "docs" / "experiments"
    index = (notebook / "README.md").read_text()
    pages = sorted(p.name for p in notebook.glob("*.md") if p.name != "README.md")
    assert pages, "no lab notebook pages"
    missing = [p for p in pages if f"({p})" not in index]
    assert not missing, f"docs/experiments/README.md does not list {missing}"
    linked = re.findall(r"\]\(([^)#]+\.md)\)", index)
    assert all((notebook / p).exists() for p in linked), "the index links a page that does not exist"


def test_model_card_is_a_card():
    """The card has the sections people expect of a model card, stays short, and links only to what exists."""
    card = (ROOT / "docs" / "model-card.md").read_text()
    headings = re.findall(r"^## (.+)$", card, flags=re.M)
    for wanted in ("Model details", "Intended use", "Training data", "Evaluation data", "Results",
                   "The file-level rule", "Limits", "How to reproduce"):
        assert any(h.startswith(wanted) for h in headings), f"model card lacks '## {wanted}'"
    assert len(card.splitlines()) <= 250
    for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", card):
        assert (ROOT / "docs" / link).exists(), f"model card links {link}, which does not exist"


def test_model_card_lists_the_real_recordings_the_model_heard():
    """The card's training-data table gives, per class, as many recordings as the manifest holds for training (the
    test fixtures left out), and names every library of the class."""
    from collections import Counter

    from instrec.datasets.recordings import read_manifest
    from instrec.real_stage import FIXTURE_FILES

    card = (ROOT / "docs" / "model-card.md").read_text()
    table = card[card.index("| class | recordings | libraries (recordings; licence) |"):].split("\n\n")[0]
    rows = {cells[0]: cells[1:] for cells in (
        [c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:])}
    heard = [r for r in read_manifest() if r.path not in FIXTURE_FILES]
    counts = Counter(r.label for r in heard)
    assert {c: int(v[0].replace(",", "")) for c, v in rows.items()} == dict(counts)
    for r in heard:  # each library named in its class's row (a Debian package or group by its last part)
        name = r.library.split(".")[-1] if not r.library.startswith("debian.klettres") else "klettres-data"
        name = "ktuberling-data" if "ktuberling" in r.library else name
        assert name in rows[r.label][1], f"the card's {r.label} row does not name {r.library}"
