"""The paper's study: which representation serves instrument recognition best (paper Fig. 2 and 3).

Rows: log-mel; VGGish random; VGGish AudioSet with PCA + 8-bit post-processing and with [0, 1]
normalisation; VGGish pre-trained with the align, textual, denoising-additive and denoising-multiplicative
objectives; and the OpenMIC random-forest baseline as a reference row. Each cell (row x seed) extracts
features (cached), trains the attention classifier and evaluates it on the test split, in its own run
folder ``cells/<row>/seed<k>/``. Rerunning skips finished cells and pre-trainings; a failing cell is
reported in its folder (``FAILED.txt``) and in the table, and the others go on.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
import time
import traceback
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from tqdm import tqdm

from instrec.config import PretrainConfig, TrainConfig, field_type, from_dict
from instrec.errors import InstrecError, MissingWeightsError
from instrec.io import atomic_path, atomic_write_json, atomic_write_text


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    figure: int
    representation: str = ""
    postprocess: str = "norm"
    objective: str = ""


ROWS = (
    Row("logmel", "Log-Mel", 2, "logmel"),
    Row("vggish-random", "VGGish (random)", 2, "vggish-random"),
    Row("vggish-audioset-pp", "VGGish AudioSet (PP)", 2, "vggish-audioset", "pca"),
    Row("vggish-audioset-norm", "VGGish AudioSet (norm.)", 2, "vggish-audioset", "norm"),
    Row("align", "Align", 3, objective="align"),
    Row("textual", "Textual", 3, objective="textual"),
    Row("denoise-additive", "Den +", 3, objective="denoise-additive"),
    Row("denoise-multiplicative", "Den \u2299", 3, objective="denoise-multiplicative"),
)
BASELINE = Row("openmic-rf-baseline", "OpenMIC RF baseline", 0)


def load_profile(name: str) -> dict:
    """A study profile by name (quick, paper, tiny: shipped) or path to a TOML file."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    path = Path(name)
    if path.suffix == ".toml":
        if not path.is_file():
            raise InstrecError(f"{path}: profile not found")
        text = path.read_text()
    else:
        shipped = resources.files("instrec") / "configs" / f"{name}.toml"
        if not shipped.is_file():
            raise InstrecError(f"unknown profile {name!r}; use quick, paper, tiny or a .toml path")
        text = shipped.read_text()
    source = path if path.suffix == ".toml" else f"profile {name}"
    try:
        profile = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InstrecError(f"{source}: not valid TOML ({exc}); fix the file") from None
    check_profile(profile, str(source))
    profile["name"] = path.stem if path.suffix == ".toml" else name
    return profile


PROFILE_DATA_KEYS = {"seed": int, "openmic_size": int, "nsynth_size": int, "freesound_size": int,
                     "fetch_soundfonts": bool, "banks": list}


def check_profile(profile: dict, source: str) -> None:
    """Unknown tables and keys, wrong types and out-of-range values are errors: a typo must not go unnoticed."""
    tables = {"data": PROFILE_DATA_KEYS, "study": {"seeds": int},
              "pretrain": {f.name: f.type for f in dataclasses.fields(PretrainConfig)},
              "train": {f.name: f.type for f in dataclasses.fields(TrainConfig)}}
    for table, values in profile.items():
        if table not in tables:
            raise InstrecError(f"{source}: unknown table [{table}]; known: {', '.join(f'[{t}]' for t in tables)}")
        if not isinstance(values, dict):
            raise InstrecError(f"{source}: {table} must be a table ([{table}]), not a value")
        for key, value in values.items():
            if key not in tables[table]:
                raise InstrecError(f"{source}: unknown key {key!r} in [{table}]; known: {', '.join(tables[table])}")
            kind = field_type(tables[table][key])
            ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool)) or \
                (kind is float and isinstance(value, int) and not isinstance(value, bool))
            if not ok:
                raise InstrecError(f"{source}: [{table}] {key} = {value!r} must be a {getattr(kind, '__name__', kind)}")
    data = profile.get("data", {})
    for key in ("openmic_size", "nsynth_size", "freesound_size"):
        if key in data and data[key] < 1:
            raise InstrecError(f"{source}: [data] {key} = {data[key]} must be at least 1")
    if profile.get("study", {}).get("seeds", 1) < 1:
        raise InstrecError(f"{source}: [study] seeds must be at least 1")
    for table, cls in (("pretrain", PretrainConfig), ("train", TrainConfig)):
        try:
            cls(**profile.get(table, {}))
        except InstrecError as exc:
            raise InstrecError(f"{source}: [{table}] {exc}") from None


def _render_if_missing(kind: str, root: Path, marker: str, size: int, seed: int, soundfonts: list[Path]) -> Path:
    if not (root / marker).exists():
        from instrec.datasets.synth import synth_dataset

        synth_dataset(kind, root, size=size, seed=seed, soundfonts=soundfonts)
    return root


def bank_pool(data: dict) -> list[Path]:
    """The profile's SoundFont pool: ``banks`` (names; default: every default bank found here), fetched
    first when ``fetch_soundfonts`` is set. A bank that cannot be fetched is reported and left out."""
    from instrec.datasets.synth import soundfonts

    banks = data.get("banks")
    if data.get("fetch_soundfonts"):
        _, failed = soundfonts.fetch(banks)
        for name, why in failed.items():
            tqdm.write(f"instrec: SoundFont bank {name} left out: {why}", file=sys.stderr)
    pool = soundfonts.pool_paths(banks)
    if soundfonts.only_timgm6mb(pool) and not banks:
        tqdm.write(soundfonts.ONLY_TIMGM6MB, file=sys.stderr)
    return pool


def _cell_done(cell: Path) -> bool:
    return (cell / "test_metrics.json").exists()


def _record_failure(cell: Path, exc: BaseException) -> str:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    cell.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cell / "FAILED.txt", "".join(traceback.format_exception(exc)))
    tqdm.write(f"cell {cell} failed: {message} (details in {cell / 'FAILED.txt'})", file=sys.stderr)
    return message


def _check_real_datasets(real: dict) -> None:
    """Open each dataset folder the user named, so a wrong path fails at once, not after the rendering."""
    from instrec.datasets.freesound import Freesound
    from instrec.datasets.nsynth import NSynth
    from instrec.datasets.openmic import OpenMIC

    for kind, cls in (("openmic", OpenMIC), ("nsynth", NSynth), ("freesound", Freesound)):
        if real[kind] is not None:
            cls(real[kind])


def run_study(profile_name: str = "quick", out_dir: str | Path | None = None, openmic: str | Path | None = None,
              nsynth: str | Path | None = None, freesound: str | Path | None = None, weights=None, pca=None,
              data_dir: str | Path | None = None, seeds: int | None = None, real: str | Path | None = None,
              real_labels: str | Path | None = None) -> dict:
    """The study into ``out_dir`` (default ``runs/study-<profile>``), which no other process writes meanwhile.
    ``real``: a folder of labelled real recordings (``real_labels``, default ``real/labels.csv``) on which every
    row whose model runs on audio is scored too, beside the test split."""
    from instrec.io import one_writer

    if real is not None:  # every row of the labels checked before minutes of work
        from instrec.datasets.classes import OPENMIC_CLASSES
        from instrec.evaluation import read_labels

        if not Path(real).is_dir():
            raise InstrecError(f"--real {real}: not a folder; give a folder of labelled recordings")
        real_labels = Path(real_labels or Path(real) / "labels.csv")
        read_labels(real_labels, real, list(OPENMIC_CLASSES))
    out = Path(out_dir or Path("runs") / f"study-{load_profile(profile_name)['name']}")
    with one_writer(out, "study folder"):
        return _run_study(profile_name, out_dir, openmic, nsynth, freesound, weights, pca, data_dir, seeds, real,
                          real_labels)


def _run_study(profile_name: str = "quick", out_dir: str | Path | None = None, openmic: str | Path | None = None,
               nsynth: str | Path | None = None, freesound: str | Path | None = None, weights=None, pca=None,
               data_dir: str | Path | None = None, seeds: int | None = None, real_audio=None, real_labels=None) -> dict:
    """Run (or resume) the whole grid; returns the aggregated results and writes tables, figures and report."""
    from instrec.datasets.openmic import OpenMIC

    started = time.perf_counter()
    profile = load_profile(profile_name)
    name = profile["name"]
    out = Path(out_dir or Path("runs") / f"study-{name}")
    data = profile.get("data", {})
    real = {"openmic": openmic, "nsynth": nsynth, "freesound": freesound}
    _check_real_datasets(real)  # before minutes of rendering or training
    data_root = Path(data_dir or Path("data") / f"embedded-{name}")
    seed = int(data.get("seed", 0))
    # kind -> the file written last by its renderer (its presence means the rendering finished), default size
    rendered = {"openmic": ("synth-metadata.json", 400), "nsynth": ("nsynth-test/examples.json", 1200),
                "freesound": ("metadata.json", 1000)}
    pool = bank_pool(data) if not all(real.values()) else []
    sources = {kind: Path(real[kind]) if real[kind] else
               _render_if_missing(kind, data_root / kind, marker, data.get(f"{kind}_size", size), seed, pool)
               for kind, (marker, size) in rendered.items()}
    n_seeds = seeds or int(profile.get("study", {}).get("seeds", 3))
    pretrain_config = from_dict(PretrainConfig, {**dataclasses.asdict(PretrainConfig(seed=seed)), **profile.get("pretrain", {})})
    train_base = from_dict(TrainConfig, {**dataclasses.asdict(TrainConfig()), **profile.get("train", {})})
    resolved = {"profile": name, "data": {k: str(v.resolve()) for k, v in sources.items()},
                "data_kind": {k: "real" if real[k] else "embedded (SoundFont-rendered)" for k in sources},
                "banks": [p.name for p in pool],
                "seeds": list(range(n_seeds)), "pretrain": dataclasses.asdict(pretrain_config),
                "train": dataclasses.asdict(train_base), "rows": [dataclasses.asdict(r) for r in ROWS],
                "real": None if real_audio is None else {"audio": str(Path(real_audio).resolve()),
                                                         "labels": str(Path(real_labels).resolve())}}
    atomic_write_json(out / "config.json", resolved)
    dataset = OpenMIC(sources["openmic"])

    tasks = [("pretrain", r) for r in ROWS if r.objective] + [("cell", r) for r in ROWS] + [("baseline", BASELINE)]
    status: dict[str, Status] = {}  # row key -> what happened
    stores: dict[str, str] = {}  # row key -> its features store
    with tqdm(total=len(tasks) + (n_seeds - 1) * (len(ROWS) + 1), desc="study", unit="task", position=0) as bar:
        for kind, row in tasks:
            if kind == "pretrain":
                status[row.key] = _pretrain(row, sources, out, pretrain_config)
                bar.update(1)
                continue
            store, row_status = _features(row, dataset, out, status, stores, weights, pca)
            if row.objective and store is not None:
                corpus = "Freesound" if row.objective == "align" else "NSynth"
                row_status.text = f"{row_status.text}; VGGish {status[row.key].text} on {corpus}"
            status[row.key] = row_status
            for k in range(n_seeds):
                cell = out / "cells" / row.key / f"seed{k}"
                bar.set_postfix_str(f"{row.key} seed {k}")
                if store is not None and not _cell_done(cell):
                    try:
                        _run_cell(kind, dataset, store, dataclasses.replace(train_base, seed=k), cell)
                        (cell / "FAILED.txt").unlink(missing_ok=True)
                    except (Exception, SystemExit) as exc:  # one failing cell never loses the others
                        status[row.key] = Status("failed", f"failed: {_record_failure(cell, exc)}")
                bar.update(1)
    real_scores = _score_real(out, n_seeds, status, real_audio, real_labels) if real_audio is not None else None
    results = aggregate(out, dataset.classes, n_seeds, status, real_scores)
    results["seconds"] = time.perf_counter() - started
    results["config"] = resolved
    write_outputs(results, out)
    return results


@dataclass
class Status:
    """What happened to a row: ``state`` ok | skipped | failed (decisions read this, never ``text``), a line
    for the reader, and whether its features were computed from the dataset's audio (a model of such a row
    can run on recordings)."""

    state: str
    text: str
    from_audio: bool = False


def _pretrain(row: Row, sources: dict, out: Path, config) -> Status:
    from instrec.pretraining.stage1 import pretrain

    run = out / "pretrain" / row.objective
    if (run / "vggish.pt").exists():
        return Status("ok", "pre-trained (cached)")
    try:
        pretrain(row.objective, sources["freesound" if row.objective == "align" else "nsynth"], run, config)
        return Status("ok", "pre-trained")
    except (Exception, SystemExit) as exc:
        return Status("failed", f"failed: {_record_failure(run, exc)}")


def _features(row: Row, dataset, out: Path, status: dict, stores: dict, weights, pca):
    """(features store or None, the row's :class:`Status`)."""
    from instrec.extract import FeatureStore, extract
    from instrec.representations.registry import build_representation

    try:
        if row is BASELINE:
            for candidate in ("vggish-audioset-pp", "logmel"):
                store = stores.get(candidate)
                if store:
                    return FeatureStore(store), Status("ok", f"random forest on the {candidate} features, time-averaged")
            return None, Status("skipped", "skipped: no features for the baseline")
        if row.representation == "vggish-audioset" and row.postprocess == "pca" and dataset.X is not None:
            from instrec.released import released_store

            store = released_store(dataset)
            stores[row.key] = str(store.root)
            return store, Status("ok", "released OpenMIC features (npz X): no weights, no audio decoding")
        if row.objective:
            checkpoint = out / "pretrain" / row.objective / "vggish.pt"
            if not checkpoint.exists():
                return None, status.get(row.key, Status("skipped", "skipped: pre-training did not finish"))
            rep = build_representation(f"vggish:{checkpoint}", postprocess=row.postprocess)
        else:
            rep = build_representation(row.representation, weights=weights, pca=pca, postprocess=row.postprocess)
        store = FeatureStore(extract(dataset, rep))
        stores[row.key] = str(store.root)
        return store, Status("ok", "extracted from audio" + (f" ({rep.key})" if row.objective else ""), from_audio=True)
    except MissingWeightsError:
        return None, Status("skipped", "skipped: no AudioSet VGGish weights; run `instrec weights fetch` "
                                       "(or pass --weights/--pca) and rerun")
    except InstrecError as exc:
        return None, Status("failed", f"failed: {str(exc).splitlines()[0]}")


def _run_cell(kind: str, dataset, store, config: TrainConfig, cell: Path) -> None:
    from instrec.training import baseline_report, load_split_data, run_training

    if kind == "baseline":
        data = {s: load_split_data(dataset, store, s) for s in dataset.splits}
        result = baseline_report(data, dataset.classes, config, cell)
        atomic_write_json(cell / "test_metrics.json", result)
        return
    run_training(dataset.root, None, config, cell, store=store)


def _score_real(out: Path, n_seeds: int, status: dict, audio, labels) -> dict[str, list[dict]]:
    """Each finished cell of a row whose model runs on audio, scored on the labelled real recordings (cached in
    the cell as ``real_metrics.json``, keyed by the labels file's sha256 and the folder)."""
    from instrec.evaluation import evaluate_audio
    from instrec.predict import load_model
    from instrec.weights import sha256_of

    key = {"audio": str(Path(audio).resolve()), "labels_sha256": sha256_of(Path(labels))}
    scores: dict[str, list[dict]] = {}
    for row in ROWS:
        if not status.get(row.key, Status("skipped", "")).from_audio:
            continue
        for k in range(n_seeds):
            cell = out / "cells" / row.key / f"seed{k}"
            if not _cell_done(cell):
                continue
            cached = cell / "real_metrics.json"
            try:
                saved = json.loads(cached.read_text()) if cached.exists() else None
            except (OSError, ValueError):
                saved = None
            if not saved or saved.get("key") != key:
                result = evaluate_audio(load_model(cell), audio, labels)
                saved = {"key": key, "f1_macro_present": result["f1_macro_present"], "map": result["map"],
                         "top1": result["top1"], "files": result["files"]}
                atomic_write_json(cached, saved)
            scores.setdefault(row.key, []).append(saved)
    return scores


def aggregate(out: Path, classes, n_seeds: int, status: dict, real: dict | None = None) -> dict:
    """Mean and std over seeds of each row's per-class F1-macro, mean F1-macro and mAP, from the cells; with
    ``real`` (row key -> each cell's scores on labelled real recordings), their means too."""
    rows = []
    for row in (*ROWS, BASELINE):
        reports = [_read_report(out / "cells" / row.key / f"seed{k}" / "test_metrics.json")
                   for k in range(n_seeds) if _cell_done(out / "cells" / row.key / f"seed{k}")]
        row_status = status.get(row.key, Status("skipped", ""))
        entry = {"key": row.key, "label": row.label, "figure": row.figure, "source": row_status.text,
                 "state": row_status.state, "from_audio": row_status.from_audio,
                 "seeds": len(reports), "f1_macro": _stats([r["f1_macro"] for r in reports]),
                 "map": _stats([r["map"] for r in reports]),
                 "per_class": {c: _stats([r["per_class"][c]["f1_macro"] for r in reports]) for c in classes}}
        if real is not None:
            cells = real.get(row.key, [])
            entry["real"] = {"f1_macro_present": _stats([c["f1_macro_present"] for c in cells]),
                             "map": _stats([c["map"] for c in cells]), "top1": _stats([c["top1"] for c in cells]),
                             "files": cells[0]["files"] if cells else 0}
        rows.append(entry)
    return {"classes": list(classes), "rows": rows}


def _read_report(path: Path) -> dict:
    try:
        report = json.loads(path.read_text())
        report["f1_macro"], report["map"], report["per_class"]  # noqa: B018  (the fields aggregate reads)
        return report
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise InstrecError(f"{path}: not a readable cell result ({type(exc).__name__}); delete it and rerun the "
                           "study to recompute that cell") from None


def _stats(values: list) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "n": len(values)}


def _fmt(stat: dict) -> str:
    return "–" if stat["mean"] is None else f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def results_markdown(results: dict) -> str:
    real = any("real" in r for r in results["rows"])
    extra = " real recordings: F1 (classes present) | real recordings: mAP |" if real else ""
    lines = [f"| representation | F1-macro (mean ± std) | mAP (mean ± std) |{extra} seeds | features |",
             "|---|---|---|" + ("---|---|" if real else "") + "---|---|"]
    for r in results["rows"]:
        scored = f" {_fmt(r['real']['f1_macro_present'])} | {_fmt(r['real']['map'])} |" if real else ""
        lines.append(f"| {r['label']} | {_fmt(r['f1_macro'])} | {_fmt(r['map'])} |{scored} {r['seeds']} | "
                     f"{r['source']} |")
    lines += ["", "Per-class F1-macro (mean over seeds):", "",
              "| class | " + " | ".join(r["label"] for r in results["rows"]) + " |",
              "|---" * (len(results["rows"]) + 1) + "|"]
    for c in results["classes"]:
        cells = ["–" if r["per_class"][c]["mean"] is None else f"{r['per_class'][c]['mean']:.2f}" for r in results["rows"]]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_outputs(results: dict, out: Path) -> None:
    from instrec.plots import overall_boxes, per_class_bars

    atomic_write_json(out / "results.json", results)
    atomic_write_text(out / "results.md", results_markdown(results))
    with atomic_path(out / "results.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["representation", "class", "f1_macro_mean", "f1_macro_std", "seeds", "source"])
        for r in results["rows"]:
            writer.writerow([r["key"], "mean", r["f1_macro"]["mean"], r["f1_macro"]["std"], r["seeds"], r["source"]])
            writer.writerow([r["key"], "mAP", r["map"]["mean"], r["map"]["std"], r["seeds"], r["source"]])
            if "real" in r:
                for name in ("f1_macro_present", "map"):
                    stat = r["real"][name]
                    writer.writerow([r["key"], f"real_{name}", stat["mean"], stat["std"], stat["n"], r["source"]])
            for c in results["classes"]:
                s = r["per_class"][c]
                writer.writerow([r["key"], c, s["mean"], s["std"], s["n"], r["source"]])
    figures = []
    for number, title in ((2, "Log-Mel vs VGGish (random, AudioSet)"), (3, "VGGish pre-training objectives")):
        rows = [r for r in results["rows"] if r["figure"] == number and r["seeds"]]
        if rows:
            figures.append(per_class_bars(rows, results["classes"], out / f"fig{number}_per_class.png", f"Fig. {number}: {title}"))
            figures.append(overall_boxes(rows, results["classes"], out / f"fig{number}_overall.png", f"Fig. {number}: overall"))
    config = results["config"]
    report = [f"# instrec study: profile `{config['profile']}`", "",
              f"Finished in {results['seconds'] / 60:.1f} min. Data: " +
              ", ".join(f"{k} = {config['data_kind'][k]} (`{v}`)" for k, v in config["data"].items()) + ".",
              f"SoundFont banks of the embedded data: {', '.join(config.get('banks') or []) or 'none (real data)'}.",
              f"Seeds: {len(config['seeds'])} (stage 2); one pre-training per objective.",
              (f"Real recordings: every model that runs on audio is also scored on `{config['real']['audio']}` "
               f"(labels `{config['real']['labels']}`; F1-macro over the classes present, mAP), beside the test split."
               if config.get("real") else "Real recordings: none given (`instrec study --real DIR`)."),
              f"Stage 1: {config['pretrain']['max_epochs']} epochs at most, batch {config['pretrain']['batch_size']}, "
              f"lr {config['pretrain']['lr']}. Stage 2: {config['train']['epochs']} epochs, batch "
              f"{config['train']['batch_size']}, lr {config['train']['lr']}, variant {config['train']['variant']}.",
              "Resolved settings: `config.json`. Per-cell runs: `cells/<row>/seed<k>/`.", "",
              "## Results (test split)", "", results_markdown(results), "## Figures", ""]
    report += [f"![{p.stem}]({p.name})" for p in figures]
    atomic_write_text(out / "report.md", "\n".join(report) + "\n")
