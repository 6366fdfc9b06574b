"""Projected time of ``instrec train-default`` on this machine, against E4's recipe in the same run.

Measures, in one process: rendering OpenMIC-style clips (``synth_openmic``, TimGM6mb, two workers), building the
real stage's clips (``real_stage.build_clips``: real parts from the ``instrec recordings`` cache, or generated
notes where it is empty, overlays, rendered clips, negatives), and training one network (the shipped base's first
member) for one epoch on stage clips, and embedding stage clips with the shipped model (the probe's and the gate's
reading: every training recording and note, about one window each, and the stage's clips), and making the modelled
instruments' notes where the recipe has them, and the worn copies where the probe learns them (``probe_worn``).
From these it projects the recipe's parts at ``default_model.Recipe()``'s sizes, and the baseline: E4's recipe
(``--base scratch --size 20000 --no-real-stage``: 20,000 rendered clips, four members of 30 epochs on their
training split). Prints both totals and their ratio. Feature extraction, export and
scoring (a few minutes in both) are left out of both.

    python benchmarks/bench_recipe.py [--clips 120]
"""

import argparse
import dataclasses
import inspect
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def render_rate(clips: int, out: Path) -> float:
    """Seconds per rendered clip."""
    from instrec.datasets.synth.openmic import synth_openmic
    from instrec.datasets.synth.render import default_soundfont

    start = time.perf_counter()
    synth_openmic(out, size=clips, soundfonts=[default_soundfont()], seed=1, labels="full", workers=2)
    return (time.perf_counter() - start) / clips


def stage_rate(clips: int, dataset: Path, work: Path) -> tuple[float, float, float, int, float]:
    """Seconds to decode the recordings, seconds per stage clip built, seconds per clip of one training epoch, the
    clips built, and seconds per clip embedded by the shipped model."""
    from instrec.bundle import load_exported
    from instrec.datasets import recordings
    from instrec.datasets.classes import OPENMIC_CLASSES
    from instrec.default_model import base_model_path
    from instrec.real_stage import Stage, _normalise, build_clips, train_member, training_sources

    root = None
    if not recordings.located(recordings.read_manifest()):
        import soundfile as sf

        root = work / "recordings"  # generated notes at a few manifest paths: the same work per clip
        for i, rec in enumerate(recordings.read_manifest()[::40]):
            (root / rec.path).parent.mkdir(parents=True, exist_ok=True)
            t = np.arange(24000) / 16000
            sf.write(str(root / rec.path), np.sin(2 * np.pi * (110 + 10 * i) * t) * np.exp(-2 * t), 16000,
                     format="FLAC" if rec.path.endswith(".flac") else None)
    share = clips // 9
    stage = Stage(real_clips=3 * share, overlay_clips=share, rendered_clips=3 * share, negative_clips=share,
                  negative_overlays=share, epochs=3)
    start = time.perf_counter()
    training_sources(root, ())  # decoding the recordings: once per recipe, not per clip
    decode = time.perf_counter() - start
    start = time.perf_counter()
    data = build_clips(work, stage, list(OPENMIC_CLASSES), dataset, root)
    build = (time.perf_counter() - start - decode) / len(data["y"])
    classifier, bundle = load_exported(base_model_path())
    x = torch.from_numpy(_normalise(data["x"], bundle["norm_stats"]).astype(np.float16))
    stamps = []
    train_member(classifier.members[0], x, torch.from_numpy(data["y"]), torch.from_numpy(data["mask"]), stage, 0,
                 log=lambda _: stamps.append(time.perf_counter()))
    from instrec.predict import load_model
    from instrec.probe import clip_embeddings

    shipped = load_model(None)
    start = time.perf_counter()
    clip_embeddings(shipped, data["x"])
    embed = (time.perf_counter() - start) / len(data["x"])
    return decode, build, (stamps[-1] - stamps[0]) / 2 / len(x), len(x), embed  # epochs 2, 3: warm-up left out


def main() -> None:
    from instrec.datasets.synth.openmic import assign_splits, synth_openmic
    from instrec.default_model import Recipe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=120, help="clips rendered and stage clips built (default 120)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        render = render_rate(args.clips, Path(tmp) / "data")
        decode, build, train, built, embed = stage_rate(args.clips, Path(tmp) / "data", Path(tmp) / "stage")
    recipe = Recipe()
    defaults = inspect.signature(synth_openmic).parameters

    def train_split(size: int) -> int:
        return assign_splits(size, 0, defaults["test_fraction"].default, defaults["val_fraction"].default).count("train")

    from collections import Counter

    from instrec.datasets import recordings
    from instrec.real_stage import FIXTURE_FILES

    per_library = Counter(r.library for r in recordings.read_manifest() if r.path not in FIXTURE_FILES)
    recording_clips = sum(min(recipe.recording_files, n) for n in per_library.values())  # costed as stage clips
    notes = 0
    if recipe.recorded_notes:  # and the recorded notes, per class (real_stage.recording_clips)
        from instrec.errors import InstrecError
        from instrec.real_stage import bank_notes

        try:
            per_class = Counter(label for _, _, label in bank_notes(recipe.recorded_notes))
            recording_clips += sum(min(recipe.recording_files, n) for n in per_class.values())
            notes = sum(per_class.values())
        except InstrecError as exc:
            print(f"recorded notes not counted: {exc}")
    base_clips = (recipe.real_clips + recipe.overlay_clips + recipe.rendered_clips + recipe.negative_clips
                  + recipe.negative_overlays)
    stage_clips = base_clips + recording_clips
    members = 4  # the base's networks, each trained further
    new = {"render": recipe.size * render, "decode recordings": decode, "stage clips": stage_clips * build,
           "stage training": members * recipe.stage_epochs * stage_clips * train}
    if recipe.modelled:  # the physical model's notes (datasets/synth/mandolin.py), made once per stage
        from instrec.datasets.synth.modelled import modelled_sources
        from instrec.errors import InstrecError

        try:
            start = time.perf_counter()
            modelled_sources(tuple(recipe.modelled), 0)
            new["modelled notes"] = time.perf_counter() - start
        except InstrecError as exc:
            print(f"modelled notes not counted: {exc}")
    if recipe.probe:  # every training recording and note read (about a window each), the gate's stage clips
        new["probe"] = (sum(per_library.values()) + notes + (base_clips if recipe.probe == "gated" else 0)) * embed
        if recipe.probe_worn:  # each recording and note once more, worn (probe.worn_copy), and read
            from instrec.probe import worn_copy

            note = np.sin(2 * np.pi * 220 * np.arange(3 * 44100) / 44100).astype(np.float32)
            start = time.perf_counter()
            for i in range(10):
                worn_copy(note, 44100, f"bench/{i}")
            new["probe worn copies"] = (sum(per_library.values()) + notes) * (
                (time.perf_counter() - start) / 10 + embed)
    e4 = dataclasses.replace(recipe, size=20000, base="scratch", real_stage=False)
    old = {"render": e4.size * render, "training": len(e4.members) * e4.epochs * train_split(e4.size) * train}
    print(f"measured: render {render * 1000:.1f} ms/clip, decoding the recordings {decode:.1f} s, stage clips "
          f"{build * 1000:.1f} ms/clip ({built} built), "
          f"training {train * 1000:.2f} ms per clip and epoch, embedding {embed * 1000:.1f} ms/clip; "
          f"torch threads {torch.get_num_threads()}")
    for name, parts in (("train-default (base e4 + real stage)", new), ("baseline: E4's recipe from scratch", old)):
        print(f"{name}: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in parts.items())
              + f"; total {sum(parts.values()) / 60:.1f} min")
    print(f"ratio (recipe / E4's recipe): {sum(new.values()) / sum(old.values()):.3f}")


if __name__ == "__main__":
    main()
