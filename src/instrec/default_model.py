"""The recipe of the model shipped with instrec: ``instrec train-default`` reproduces it.

Two parts, each cached in the output folder so an interrupted run resumes:

1. **The base networks.** By default (``base="e4"``) the four compact CNNs shipped as ``instrec/models/base``
   (the model shipped until 2026-12-05, "E4"; ``base_model_path``): trained on SoundFont renderings only, by this
   same command with ``--base scratch --size 20000`` (2.8 hours on 2 cores). With ``base="scratch"`` the recipe
   trains them here: render ``size`` OpenMIC-style clips (solo, ensemble, band; every part from its own bank, the
   full recording chain) with full labels (every class a clip's banks can play is labelled present or absent);
   the bank ``hold_out_bank`` never enters training and makes the test split; compute log-mel examples; train the
   candidate (the compact CNN, ``generalisation.CANDIDATES``) once per member of ``members`` (``run/``,
   ``run-1/``, ...), and average the members' probabilities (``convnet.Ensemble``).
2. **The real-recording stage** (``real_stage.py``): every network goes on learning from clips played from the
   real recordings of ``instrec recordings fetch``, rendered clips with a real part added, rendered clips as they
   are (the train split of the ``size``-clip rendering), and sounds that are no instrument. The decision threshold
   and file rule are the ones chosen on held-out real sources (docs/experiments/).

Then ``model/`` is exported (``bundle.export_model``) and scored on the held-out bank (``scores.json``).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instrec.config import TrainConfig, apply_overrides, changed_settings
from instrec.errors import InstrecError
from instrec.io import atomic_write_json, writes_folder
from instrec.metrics import mean_f1_macro

THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.1, 0.91, 0.05))
# the four General MIDI banks, the tonejs-instruments recordings and the two AVLdrums kits (soundfonts.BANKS)
RECIPE_BANKS = ("timgm6mb", "fluidr3", "musescore", "csound", "tonejs", "avldrums-blackpearl", "avldrums-redzeppelin")
# the ensemble's members when the base is trained here: TrainConfig settings ("key=value,key=value") on top of the
# candidate's, one network each; two seeds without and two with weight decay (chosen by measurement)
RECIPE_MEMBERS = ("swa_epochs=10", "seed=1,swa_epochs=10", "swa_epochs=10,weight_decay=1e-4",
                  "seed=1,swa_epochs=10,weight_decay=1e-4")
BASES = ("e4", "scratch")
PROBES = ("gated", "always", "")


@dataclass(frozen=True)
class Recipe:
    size: int = 6000  # rendered clips (with base "scratch", E4's recipe rendered 20,000)
    seed: int = 0
    labels: str = "full"
    hold_out_bank: str = "csound"
    banks: tuple[str, ...] = RECIPE_BANKS
    base: str = "e4"  # e4: the shipped base networks (instrec/models/base); scratch: train them here
    candidate: str = "cnn"
    members: tuple[str, ...] = RECIPE_MEMBERS  # base "scratch" only
    epochs: int = 30  # base "scratch" only
    input_level: str = "fixed"  # predict.LEVEL_RULES: how the exported model sets a recording's level (model card)
    real_stage: bool = True
    real_clips: int = 2500  # the real stage's clips (real_stage.Stage), as measured on the source folds
    overlay_clips: int = 1000
    rendered_clips: int = 2500
    negative_clips: int = 600  # twice the first stage's: the recordings' bass notes made hum look like bass
    negative_overlays: int = 200
    # per library, up to this many recordings as clips as they are (real_stage.Stage; chosen on the source folds:
    # docs/experiments/2026-12-05-recordings-as-clips.md)
    recording_files: int = 60
    # and as many recorded notes of each instrument of this bank of the pool ("" none; chosen on the source folds and
    # held-out csound: docs/experiments/2026-12-05-probe-with-notes.md)
    recorded_notes: str = "tonejs"
    # and as many notes of each further set (soundfonts.NOTE_SETS, need not be of the pool; real_stage.Stage.
    # more_note_banks)
    more_recorded_notes: tuple[str, ...] = ()
    # instruments no recording reaches, played from a physical model in the real stage (real_stage.Stage.modelled)
    modelled: tuple[str, ...] = ()
    modelled_solos: int = 0  # and solo clips of them alone (real_stage.Stage.modelled_solos)
    stage_epochs: int = 3
    stage_lr: float = 1e-4
    # with the real stage: chosen on held-out real sources (docs/experiments/2026-12-05-file-rule-real.md)
    threshold: float = 0.40
    file_rule: str = "mean"
    # where no class reaches the threshold, a file's first class is reported down to this probability (None: never;
    # chosen on held-out real sources: docs/experiments/2026-12-07-top-class-floor.md)
    floor: float | None = 0.25
    # a linear probe on the real recordings and notes beside the head (probe.py): "gated" where a gate hears one real
    # instrument alone (chosen on the source folds and held-out csound: docs/experiments/2026-12-06-gated-probe.md),
    # "always" on every window (better on single real instruments, worse on mixtures), "" none
    probe: str = "gated"
    # the probe and gate also learn each recording and note once more as a worn recording: clipped, noisy,
    # band-limited (probe.worn_copy; docs/experiments/2026-12-06-degraded-probe.md)
    probe_worn: bool = False
    # the probe and gate also learn each recording and note once more per kind of copy (probe.COPIES): "pitched", 1 to
    # 3 semitones higher or lower; "rerecorded", through the recording chain without noise
    # (docs/experiments/2026-12-07-copies-for-the-probe.md)
    probe_copies: tuple[str, ...] = ()
    # further sets of recorded notes (soundfonts.NOTE_SETS; or PLAYED_NOTE_SETS, a General MIDI SoundFont played note
    # by note) the probe and its gate learn beside recorded_notes; not played in the stage (chosen on the source folds
    # and held-out csound: docs/experiments/2026-12-06-freepats-notes.md)
    probe_notes: tuple[str, ...] = ("freepats",)
    # what the probe and gate read (convnet.PROBE_FEATURES): the networks' embeddings, the pooled convolution features
    # they are made from, or both (docs/experiments/2026-12-07-pooled-features-probe.md)
    probe_features: str = "embedding"
    hold_out_fold: str = ""  # a source fold of real_stage.FOLDS left out of the real stage (measurement)
    device: str = "cpu"  # cuda where a GPU is available (faster; never required)


def base_model_path() -> Path:
    from importlib import resources

    return Path(str(resources.files("instrec") / "models" / "base"))


def recipe_stage(recipe: Recipe):
    """The real-recording stage's settings of ``recipe``."""
    from instrec.real_stage import FOLDS, Stage

    if recipe.hold_out_fold and recipe.hold_out_fold not in FOLDS:
        raise InstrecError(f"hold-out fold {recipe.hold_out_fold!r}: use one of {', '.join(FOLDS)}")
    from instrec.datasets.synth.soundfonts import BANKS, NOTE_SETS, note_sets

    if recipe.recorded_notes and all(b in BANKS for b in recipe.banks):  # (an unknown bank: the pool's own error)
        if recipe.recorded_notes not in recipe.banks or BANKS[recipe.recorded_notes].kind not in NOTE_SETS:
            sets = [b for b in recipe.banks if BANKS[b].kind in NOTE_SETS]
            raise InstrecError(f"recorded notes {recipe.recorded_notes!r}: not a sample set of the pool (use one of: "
                               f"{', '.join(sets) or 'none; add --bank tonejs'}, or '' for none)")
    for bank in recipe.more_recorded_notes:
        if bank not in BANKS or BANKS[bank].kind not in NOTE_SETS:
            raise InstrecError(f"more recorded notes {bank!r}: not a set of recorded notes (use one of: "
                               f"{note_sets()})")
    if recipe.more_recorded_notes and not recipe.recording_files:
        raise InstrecError("more recorded notes are played as many per class as --recording-files: give it a count")
    return Stage(real_clips=recipe.real_clips, overlay_clips=recipe.overlay_clips,
                 rendered_clips=recipe.rendered_clips, negative_clips=recipe.negative_clips,
                 negative_overlays=recipe.negative_overlays, recording_files=recipe.recording_files,
                 note_bank=recipe.recorded_notes, more_note_banks=tuple(recipe.more_recorded_notes),
                 modelled=tuple(recipe.modelled),
                 modelled_solos=recipe.modelled_solos, epochs=recipe.stage_epochs,
                 lr=recipe.stage_lr,
                 seed=recipe.seed, hold_out=FOLDS[recipe.hold_out_fold] if recipe.hold_out_fold else (),
                 device=recipe.device)


@writes_folder("output folder")
def train_default(out: str | Path, recipe: Recipe = Recipe(), pool: list[Path] | None = None,
                  recordings_root: str | Path | None = None) -> dict:
    """Run the recipe into ``out`` (data/, run*/ or the base, real/, model/, scores.json); returns the scores.
    ``pool``: the SoundFont files to render from (default: the recipe's banks, fetched first);
    ``recordings_root``: the real recordings (default: the ``instrec recordings`` cache)."""
    from instrec.bundle import export_model
    from instrec.datasets.synth.openmic import synth_openmic
    from instrec.evaluation import evaluate_openmic_test
    from instrec.predict import FILE_RULES, load_model
    from instrec.study import bank_pool

    out = Path(out)
    if recipe.base not in BASES:
        raise InstrecError(f"base {recipe.base!r}: use one of {', '.join(BASES)}")
    if recipe.file_rule not in FILE_RULES:
        raise InstrecError(f"file rule {recipe.file_rule!r}: use one of {', '.join(FILE_RULES)}")
    if recipe.floor is not None and not 0 <= recipe.floor <= 1:
        raise InstrecError(f"floor {recipe.floor}: use a probability from 0 to 1, or none")
    if recipe.probe not in PROBES:
        raise InstrecError(f"probe {recipe.probe!r}: use gated, always or '' (none)")
    from instrec.probe import check_features

    check_features(recipe.probe_features)
    from instrec.datasets.synth.soundfonts import BANKS, NOTE_SETS, PLAYED_NOTE_SETS, note_sets

    for bank in recipe.probe_notes:  # recorded notes, or a General MIDI SoundFont's (real_stage.played_notes)
        if bank not in BANKS or BANKS[bank].kind not in NOTE_SETS + PLAYED_NOTE_SETS:
            raise InstrecError(f"probe notes {bank!r}: not a set of recorded notes (use one of: "
                               f"{note_sets(played=True, without=recipe.hold_out_bank)})")
        if bank == recipe.hold_out_bank:
            raise InstrecError(f"probe notes {bank!r}: the recipe's held-out bank, which it is scored on; choose "
                               "another set of notes or another --hold-out-bank")
    representation, members = recipe_members(recipe)  # a bad member fails here, before rendering
    runs = member_runs(out, len(members))
    stage = recipe_stage(recipe) if recipe.real_stage else None
    pool = pool or bank_pool({"fetch_soundfonts": True, "banks": list(recipe.banks)})
    if stage is not None:
        from instrec.real_stage import training_sources

        training_sources(Path(recordings_root) if recordings_root else None, stage.hold_out)  # fetched? fail early
        if stage.modelled:  # the physical model's material, fetched as the banks are (a fetched copy is kept)
            from instrec.datasets.synth import soundfonts
            from instrec.datasets.synth.modelled import MODELLED, check_modelled

            for name in stage.modelled:
                if MODELLED.get(name) and MODELLED[name].bank:
                    soundfonts.fetch_bank(MODELLED[name].bank)
            check_modelled(stage.modelled)
        if recipe.probe_notes or stage.more_note_banks:  # fetched as the banks are
            from instrec.datasets.synth import soundfonts

            for bank in dict.fromkeys(recipe.probe_notes + stage.more_note_banks):
                soundfonts.fetch_bank(bank)
    data = out / "data"
    if not (data / "synth-metadata.json").exists():
        synth_openmic(data, size=recipe.size, soundfonts=pool, seed=recipe.seed, hold_out_bank=recipe.hold_out_bank,
                      labels=recipe.labels)
    about = {"recipe": recorded_recipe(recipe), "command": "instrec train-default",
             "input_level": recipe.input_level, "pool": [p.name for p in pool], "floor": recipe.floor}
    if recipe.base == "scratch":
        from instrec.representations.registry import build_representation
        from instrec.training import run_training

        for run, member, settings in zip(runs, members, recipe.members):
            if (run / "test_metrics.json").exists():
                check_finished_member(run, member, settings)
            else:
                run_training(data, build_representation(representation), member, run)
        classifier, bundle = assemble(runs)
        threshold, by_threshold = validation_threshold(classifier, bundle)
        bundle["config"] = {**bundle["config"], "threshold": threshold}
        about["validation_f1_macro_by_threshold"] = by_threshold
        if "members" in bundle:
            about["members"] = bundle["members"]
        base = out / ("base-model" if stage else "model")
        export_model(classifier, bundle, base, about)
    else:
        base = base_model_path()
    if stage is not None:
        from instrec.real_stage import run_stage

        root = Path(recordings_root) if recordings_root else None
        staged = out / ("stage-model" if recipe.probe else "model")
        if recipe.probe and (staged / "model.json").exists():  # a finished stage, reused: only the probe is fitted
            check_stage_recipe(staged, recipe)
        else:
            run_stage(base, out / "real", stage, data, root, recipe.threshold, out=staged,
                      about={**about, "file_rule": recipe.file_rule})
        if recipe.probe:
            from instrec.probe import attach, training_recordings
            from instrec.real_stage import bank_notes, build_clips

            classes = json.loads((staged / "model.json").read_text())["classes"]
            clips = build_clips(out / "real", stage, classes, data, root)  # the stage's, cached
            negatives = clips["x"][np.array([m["type"] == "negative" for m in clips["meta"]], bool)]
            notes = bank_notes(recipe.recorded_notes) if recipe.recorded_notes else []  # of what no library plays
            for bank in recipe.probe_notes:  # and further sets of notes, for the probe alone
                notes = notes + bank_notes(bank)
            if stage.modelled:  # and pieces played from the modelled instruments' notes (mandolin.py)
                from instrec.datasets.synth.modelled import modelled_pieces

                notes = notes + modelled_pieces(stage.modelled, stage.seed)
            attach(staged, out / "model", training_recordings(root, stage.hold_out), negatives,
                   about={"recipe": about["recipe"], "floor": recipe.floor}, log=lambda m: print(m, file=sys.stderr),
                   notes=notes,
                   gate_clips=clips if recipe.probe == "gated" else None, modelled=stage.modelled,
                   copies=(("worn",) if recipe.probe_worn else ()) + recipe.probe_copies,
                   features=recipe.probe_features)
    # scored as a user of the export is: through predict, with its input-level and file-level rules
    model = load_model(out / "model")
    scores = {"held_out_bank": recipe.hold_out_bank, "threshold": model.threshold,
              "input_level": recipe.input_level, "test": evaluate_openmic_test(model, data)}
    atomic_write_json(out / "scores.json", scores)
    print(f"{out / 'model'}: exported; held-out bank {recipe.hold_out_bank}: F1-macro "
          f"{scores['test']['f1_macro']:.3f}, mAP {scores['test']['map']:.3f}", file=sys.stderr)
    return json.loads((out / "scores.json").read_text())


# recipe fields the stage's networks do not depend on (the probe's, and the file rule's floor)
PROBE_FIELDS = ("probe", "probe_worn", "probe_notes", "probe_copies", "probe_features", "floor")


def check_stage_recipe(staged: Path, recipe: Recipe) -> None:
    """A finished stage model in the output folder is reused only if the recipe it records is ``recipe`` but for the
    probe's own fields; raises InstrecError naming the fields otherwise."""
    had = json.loads((staged / "model.json").read_text()).get("recipe", {})
    now = json.loads(json.dumps(recorded_recipe(recipe)))
    differ = sorted(k for k in set(had) | set(now) if k not in PROBE_FIELDS and had.get(k) != now.get(k))
    if differ:
        raise InstrecError(f"{staged}: trained by another recipe ({', '.join(differ)} differ); delete that folder or "
                           "use another --out")


def recorded_recipe(recipe: Recipe) -> dict:
    """What an export's ``model.json`` records of its recipe: every field but the device (how it was computed, not
    what: a GPU run stands for the same recipe), and ``modelled``, ``modelled_solos``, ``probe_worn``, ``probe_notes``,
    ``probe_copies`` and ``more_recorded_notes`` only where set and ``probe_features`` only where not the embeddings (a
    recipe without them records what it did before the settings existed)."""
    return {k: v for k, v in dataclasses.asdict(recipe).items()
            if k != "device" and (v or k not in ("modelled", "modelled_solos", "probe_worn", "probe_notes",
                                                 "probe_copies", "more_recorded_notes"))
            and (k != "probe_features" or v != "embedding")}


def recipe_members(recipe: Recipe) -> tuple[str, list[TrainConfig]]:
    """The representation the recipe's candidate trains on, and each member's training settings."""
    from instrec.generalisation import resolve_candidate

    representation, config = resolve_candidate(recipe.candidate, TrainConfig(epochs=recipe.epochs, seed=recipe.seed,
                                                                             device=recipe.device))
    return representation, [member_config(config, settings) for settings in recipe.members]


def member_config(config: TrainConfig, settings: str) -> TrainConfig:
    """``config`` with a member's settings ("key=value,key=value"; "" keeps it)."""
    try:
        return apply_overrides(config, [item for item in settings.split(",") if item])
    except InstrecError as exc:
        raise InstrecError(f"member {settings!r}: {str(exc).removeprefix('--set: ').removeprefix('--set ')}") from None


# how a run was computed, not what it learnt: a finished member trained on a GPU stands for the same recipe
RUNTIME_SETTINGS = ("device", "num_threads", "checkpoint_every")


def check_finished_member(run: Path, member: TrainConfig, settings: str) -> None:
    """A finished run in the recipe's folder must have been trained with its member's settings (a changed recipe
    would otherwise ship the old networks)."""
    written = json.loads((run / "config.json").read_text())
    differ = changed_settings(written, member, ignore=RUNTIME_SETTINGS)
    if differ:
        name = differ[0]
        was = written.get(name, getattr(TrainConfig(), name, None))
        raise InstrecError(f"{run}: was trained with {name}={was!r}, but the recipe's member {settings!r} has "
                           f"{name}={getattr(member, name, None)!r}; delete {run} to train it again, or use another "
                           "--out")


def member_runs(out: Path, count: int) -> list[Path]:
    """The run folders of a recipe's members: ``run`` (the first, as a one-network recipe), ``run-1``, ..."""
    if count < 1:
        raise InstrecError("the recipe needs at least one member")
    return [out / ("run" if i == 0 else f"run-{i}") for i in range(count)]


def _inputs(bundle: dict) -> tuple:
    """What ensemble members must share: the feature store, the classes and the normalisation statistics."""
    stats = bundle.get("norm_stats") or {}
    return (bundle["store"], list(bundle["classes"]), bundle.get("trained_classes"),
            {k: np.asarray(v).tolist() for k, v in stats.items()})


def assemble(runs: list[Path]) -> tuple:
    """One trained run's classifier and bundle, or the :class:`~instrec.convnet.Ensemble` of several runs trained on
    the same features (the first run's bundle, with each member's settings, epoch and validation score)."""
    from instrec.convnet import Ensemble
    from instrec.training import load_bundle

    loaded = [load_bundle(run) for run in runs]
    if len(loaded) == 1:
        return loaded[0]
    first = loaded[0][1]
    for run, (classifier, bundle) in zip(runs[1:], loaded[1:]):
        if _inputs(bundle) != _inputs(first):
            raise InstrecError(f"{run}: was trained on other features or classes than {runs[0]}; the members of an "
                               "ensemble must be trained on one feature store")
        if classifier.args.get("architecture") != "cnn":
            raise InstrecError(f"{run}: only compact CNNs (architecture cnn) can be members of an ensemble")
    ensemble = Ensemble([classifier.args for classifier, _ in loaded])
    for member, (classifier, _) in zip(ensemble.members, loaded):
        member.load_state_dict(classifier.state_dict())
    members = [{"config": bundle["config"], "epoch": bundle.get("epoch"),
                "best_val_f1_macro": bundle.get("best_val_f1_macro")} for _, bundle in loaded]
    return ensemble.eval(), {**first, "members": members}


def choose_threshold(probs: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> tuple[float, dict[str, float]]:
    """The threshold of ``THRESHOLDS`` with the highest mean per-class F1-macro (the lowest on a tie), and
    the score of each."""
    scores = {f"{t:.2f}": mean_f1_macro(probs, labels, mask, t) for t in THRESHOLDS}
    best = max(THRESHOLDS, key=lambda t: (scores[f"{t:.2f}"], -t))
    return float(best), scores


def per_class_thresholds(probs: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(C,) each class's threshold of ``THRESHOLDS`` with its best F1-macro (the lowest on a tie; 0.5 for a class
    never labelled). Measured, not shipped: docs/experiments/2026-11-28-per-class-threshold.md."""
    from instrec.metrics import f1_macro_per_class

    scores = np.stack([f1_macro_per_class(probs, labels, mask, t) for t in THRESHOLDS])  # (thresholds, classes)
    best = np.argmax(np.nan_to_num(scores, nan=-1.0), axis=0)
    return np.where(np.isnan(scores).all(axis=0), 0.5, np.asarray(THRESHOLDS)[best])


def validation_threshold(classifier, bundle: dict) -> tuple[float, dict[str, float]]:
    """:func:`choose_threshold` on the validation split of the dataset and features a run was trained on."""
    from instrec.evaluation import stored_split_probs

    probs, validation = stored_split_probs(classifier, bundle, "validation")
    return choose_threshold(probs, validation.y.numpy(), validation.mask.numpy())
