"""Held-out real sources: does a linear probe on the stage model's embeddings, averaged with its own head, help?

For fold K of ``real_stage.FOLDS``, the stage model trained without K (``OUT/K/model``, from ``real_folds.py``) reads
every recording of every fold as ``predict`` reads it. Each window's embedding (the mean of its heard examples'
embeddings, all members concatenated) is kept beside the model's own probabilities for the window, and so are the
embeddings of the stage's own training clips of that fold (``OUT/K/clips-*.npz``: real, overlay, rendered and
negative clips). A logistic regression per class (standardised embeddings, balanced class weights, C=1) learns on
the windows of the recordings outside K and on the stage's clips; on K's recordings the file probability is the
file rule over the windows of ``(1 - w) * model + w * probe``. Scored like ``real_folds.py`` (F1-macro at the
model's threshold over the classes present, AP, top-1), beside the model alone, on the same files; per library of
the fold, the files where its class is reported and where it is first (``--json``: ``libraries``).

    python scripts/probe_folds.py --out runs/folds4 --fold A --fold B --fold C [--json runs/probe-folds.json]
        [--notes tonejs]  # also candidates 3 and 9: the probe learns the bank's recorded notes too; 9 gated
        [--degraded]  # also candidate 13: candidate 9 learning worn copies too; 9 and 13 on worn copies of the fold
        [--c 0.1 ...]  # also candidate 20: candidate 9 with the probe's C at this value (the gate's stays 1)
        [--share 0.7 ...]  # also candidate 22: candidate 9 with this share for the probe (shipped: 0.5)
        [--by-library]  # also candidate 23: candidate 9 with each library of a class the same say in the probe
        [--more-notes freepats ...]  # also candidate 26: candidate 9 whose probe and gate learn this bank's notes too
        [--candidate-notes fluidr3 ...]  # also candidate 27: candidate 26 whose probe and gate learn these banks'
                                         # notes too, and 27p: whose probe alone does (with --more-notes)
        [--copies pitched ...]  # also candidate 33p (33r with rerecorded): candidate 26 whose probe and gate learn
                                # each recording and note once more as a copy of this kind (probe.COPIES)
        [--beside src/instrec/models/base]  # also candidate 36: candidate 26 with E4's networks beside the fold's
                                            # stage networks as one ensemble (probe and gate on both embeddings)
        [--floor 0.3 ...]  # also candidate 38: candidate 26 where a file with nothing at the threshold reports its
                           # first class down to this floor
        [--one-where-alone]  # also candidate 40: candidate 38g reporting one class where the gate hears one alone
        [--softmax]  # also candidate 39: candidate 38g whose probe is one multinomial regression over the classes
        [--pooled]  # also candidates 41, 41b: candidate 38g whose probe and gate read the networks' pooled
                    # convolution features instead of (41) or beside (41b) their embeddings; with
                    # --one-where-alone also candidate 42: 41b with 40's clause
        [--unheard-copies]  # also candidate 46: candidate 38g whose probe and gate also learn the other folds'
                            # recordings as the fold model that held them out embeds them
        [--blind 8 ...]  # also candidate 44: candidate 38g whose probe is blind to the K directions along which
                         # the libraries of one class differ most (with --floor and --floor-gate)
        [--modelled ukulele]  # with --floor and --floor-gate also candidate 43: candidate 38g whose probe and gate
                              # learn pieces of this modelled instrument (modelled.MODELLED)
        [--only-candidates]  # of the standing rows, only "model alone" and candidate 9
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import numpy as np


CAND9 = "candidate 9: candidate 3 where a gate hears one real instrument alone"


def fold_cache(out: Path, fold: str) -> dict:
    """Every recording of every fold read by fold ``fold``'s model, and its stage clips embedded (cached)."""
    from instrec.io import atomic_write_json, load_npz
    from instrec.predict import load_model
    from instrec.probe import clip_embeddings, recording_windows
    from instrec.real_stage import FOLDS, fold_recordings

    cache = out / fold / "probe-cache.npz"
    wanted = [(k, path, label) for k in sorted(FOLDS) for path, label in fold_recordings(k)]
    old, before = {}, None
    if cache.exists():
        before = {**load_npz(cache), **json.loads((out / fold / "probe-cache.json").read_text())}
        if [(f["fold"], f["path"]) for f in before["files"]] == [(k, str(p)) for k, p, _ in wanted]:
            return before
        print(f"{cache}: the folds' recordings changed; reading the new ones")
        ends = np.cumsum([f["windows"] for f in before["files"]])
        for f, end in zip(before["files"], ends):  # what the same model read of each file before
            old[f["path"]] = {k: before[k][end - f["windows"]:end] for k in ("emb", "probs", "lengths", "phases")}
    model = load_model(out / fold / "model")
    rows, files = [], []
    for k, path, label in wanted:
        r = old.get(str(path)) or recording_windows(model, path)
        files.append({"path": str(path), "label": label, "fold": k, "windows": len(r["lengths"])})
        rows.append(r)
    (clip_path,) = sorted((out / fold).glob("clips-*.npz"))
    clips = load_npz(clip_path)
    data = {"emb": np.concatenate([r["emb"] for r in rows]), "probs": np.concatenate([r["probs"] for r in rows]),
            "lengths": np.concatenate([r["lengths"] for r in rows]),
            "phases": np.concatenate([r["phases"] for r in rows]),
            "clip_emb": before["clip_emb"] if before is not None else clip_embeddings(model, clips["x"]),
            "clip_y": clips["y"], "clip_mask": clips["mask"]}
    np.savez(cache, **data)
    about = {"clip_types": [m["type"] for m in json.loads(clip_path.with_suffix(".json").read_text())],
             "files": files, "classes": model.classes, "threshold": model.threshold, "rule": model.file_rule,
             "trained": [bool(t) for t in model.trained]}
    atomic_write_json(out / fold / "probe-cache.json", about)
    return {**data, **about}


def read_items(out: Path, fold: str, name: str, items, classes: list[str], model_dir: Path | None = None,
               cache: Path | None = None) -> dict:
    """``items`` (samples, rate, class) read by fold ``fold``'s model (or the model ``model_dir``) as ``predict``
    reads a file: window embeddings and their labels (cached as ``OUT/<fold>/probe-<name>.npz`` or ``cache``;
    ``items`` is called only when not cached)."""
    from instrec.io import load_npz
    from instrec.predict import load_model
    from instrec.probe import recording_windows

    cache = cache or out / fold / f"probe-{name}.npz"
    if cache.exists():
        return load_npz(cache)
    model = load_model(model_dir or out / fold / "model")
    emb, y = [], []
    for samples, rate, label in items():
        e = recording_windows(model, samples, rate)["emb"]
        emb.append(e)
        y.append(np.tile(np.array([c == label for c in classes], np.float32), (len(e), 1)))
    data = {"emb": np.concatenate(emb), "y": np.concatenate(y)}
    np.savez(cache, **data)
    return data


def notes_cache(out: Path, fold: str, bank: str, classes: list[str]) -> dict:
    """Every recorded note of ``bank`` (``real_stage.bank_notes``) read by fold ``fold``'s model (cached)."""
    from instrec.real_stage import bank_notes

    return read_items(out, fold, f"notes-{bank}", lambda: bank_notes(bank), classes)


def beside_reads(out: Path, base: Path, cache: dict, fold: str, banks: list[str]) -> dict:
    """Candidate 36: the model ``base`` (E4) read every recording of the folds (as ``fold_cache`` lists them) and the
    recorded notes of ``banks`` (cached once as ``OUT/beside-<base name>-*.npz``) and embedded fold ``fold``'s stage
    clips (cached as ``OUT/<fold>/beside-<base name>-clips.npz``)."""
    from instrec.io import load_npz
    from instrec.predict import load_model
    from instrec.probe import clip_embeddings, recording_windows
    from instrec.real_stage import bank_notes

    name, model = base.name, None
    files_path = out / f"beside-{name}-files.npz"
    if files_path.exists() and len(load_npz(files_path)["windows"]) == len(cache["files"]):
        reads = load_npz(files_path)
    else:
        model = load_model(base)
        if model.classes != cache["classes"]:
            raise SystemExit(f"{base}: its classes are not the folds' models' classes")
        rows = [recording_windows(model, f["path"]) for f in cache["files"]]
        reads = {k: np.concatenate([r[k] for r in rows]) for k in ("emb", "probs", "lengths", "phases")}
        reads["windows"] = np.array([len(r["lengths"]) for r in rows])
        reads["trained"] = np.array(model.trained, bool)
        np.savez(files_path, **reads)
    if not np.array_equal(reads["windows"], [f["windows"] for f in cache["files"]]):
        raise SystemExit(f"{files_path}: its windows are not the fold models' windows; delete it and run again")
    clips_path = out / fold / f"beside-{name}-clips.npz"
    if clips_path.exists():
        clip_emb = load_npz(clips_path)["emb"]
    else:
        model = model or load_model(base)
        (clip_file,) = sorted((out / fold).glob("clips-*.npz"))
        clip_emb = clip_embeddings(model, load_npz(clip_file)["x"])
        np.savez(clips_path, emb=clip_emb)
    notes = [read_items(out, fold, "", lambda b=bank: bank_notes(b), cache["classes"], base,
                        out / f"beside-{name}-notes-{bank}.npz") for bank in banks]
    return {**reads, "clip_emb": clip_emb, "notes": notes}


def beside(cache: dict, notes: dict, reads: dict) -> tuple[dict, dict]:
    """The fold's reads with E4's ``reads`` beside them, as one ensemble of both would read: a class's window
    probability the mean of the two models' where both learned it, else the one's that did (E4 never learned
    ukulele); embeddings the two concatenated (the stage's first); ``notes`` likewise."""
    ours, theirs = np.array(cache["trained"], float), reads["trained"].astype(float)
    share = np.where(ours + theirs > 0, theirs / np.maximum(ours + theirs, 1), 0.5)  # E4's share per class
    joined = {**cache, "emb": np.concatenate([cache["emb"], reads["emb"]], axis=1),
              "probs": (1 - share) * cache["probs"] + share * reads["probs"],
              "clip_emb": np.concatenate([cache["clip_emb"], reads["clip_emb"]], axis=1)}
    theirs = np.concatenate([n["emb"] for n in reads["notes"]])
    if len(theirs) != len(notes["emb"]):
        raise SystemExit("the beside model's note windows are not the fold models'")
    return joined, {"emb": np.concatenate([notes["emb"], theirs], axis=1), "y": notes["y"]}


def pooled_model(model_dir: Path):
    """The model ``model_dir`` read as a probe on its pooled features reads it (``probe.reader``, "pooled": its
    embeddings, then each network's pooled convolution features; candidate 41)."""
    from instrec.convnet import without_probe
    from instrec.predict import load_model
    from instrec.probe import reader

    model = load_model(model_dir)
    model.classifier = reader(without_probe(model.classifier), len(model.classes), "pooled")
    return model


def pooled_windows(model, source, rate: int | None = None) -> np.ndarray:
    """Per window of a recording (``probe.recording_windows``), the mean of its heard examples' pooled features."""
    from instrec.probe import recording_windows

    return recording_windows(model, source, rate)["emb"][:, model.classifier.own:]


def pooled_reads(out: Path, cache: dict, fold: str, banks: list[str]) -> dict:
    """Candidate 41: fold ``fold``'s model's pooled features (:func:`pooled_model`) of every recording of the folds
    (as ``fold_cache`` lists them, window for window), of its stage clips and of the recorded notes of ``banks``,
    cached as ``OUT/<fold>/pooled-*.npz``."""
    from instrec.io import load_npz
    from instrec.probe import clip_embeddings
    from instrec.real_stage import bank_notes

    model = None

    def cached(path: Path, make) -> np.ndarray:
        nonlocal model
        if path.exists():
            return load_npz(path)["emb"]
        model = model or pooled_model(out / fold / "model")
        emb = make(model)
        np.savez(path, emb=emb)
        return emb

    files = cached(out / fold / "pooled-files.npz",
                   lambda m: np.concatenate([pooled_windows(m, f["path"]) for f in cache["files"]]))
    if len(files) != len(cache["emb"]):
        raise SystemExit(f"{out / fold}/pooled-files.npz: its windows are not the fold model's; delete it")
    (clip_file,) = sorted((out / fold).glob("clips-*.npz"))
    clips = cached(out / fold / "pooled-clips.npz",
                   lambda m: clip_embeddings(m, load_npz(clip_file)["x"])[:, m.classifier.own:])
    notes = [cached(out / fold / f"pooled-notes-{bank}.npz",
                    lambda m, b=bank: np.concatenate([pooled_windows(m, s, r) for s, r, _ in bank_notes(b)]))
             for bank in banks]
    return {"emb": files, "clip_emb": clips, "notes": np.concatenate(notes)}


def pooled(cache: dict, notes: dict, reads: dict, both: bool) -> tuple[dict, dict]:
    """The fold's reads and ``notes`` with the pooled features ``reads`` instead of the embeddings (41), or beside
    them (41b, ``both``); the model's own probabilities as they are."""
    def join(ours, theirs):
        return np.concatenate([ours, theirs], axis=1) if both else theirs

    if len(reads["notes"]) != len(notes["emb"]):
        raise SystemExit("the pooled note windows are not the fold model's")
    return ({**cache, "emb": join(cache["emb"], reads["emb"]), "clip_emb": join(cache["clip_emb"], reads["clip_emb"])},
            {"emb": join(notes["emb"], reads["notes"]), "y": notes["y"]})


def modelled_cache(out: Path, fold: str, names: tuple[str, ...], classes: list[str]) -> dict:
    """The modelled instruments' pieces (``modelled.modelled_pieces``, seed 0 as the folds' stages) read by fold
    ``fold``'s model (cached)."""
    from instrec.datasets.synth.modelled import modelled_pieces

    return read_items(out, fold, f"modelled-{'-'.join(names)}", lambda: modelled_pieces(names, 0), classes)


def _copied_file(item):
    from instrec.probe import COPIES, worn_key

    kind, path = item
    return COPIES[kind](path, None, worn_key(Path(path))).astype(np.float16)


def _copied_note(item):
    from instrec.probe import COPIES

    kind, i, samples, rate = item
    return COPIES[kind](samples, rate, f"note/{i}").astype(np.float16)


def copy_audio(out: Path, kind: str, files: list[dict], banks: list[str]) -> dict:
    """Every recording of the folds and every recorded note of ``banks`` (in order, numbered as ``train-default``
    numbers them) as a copy of ``kind`` (``probe.COPIES``; the same for every fold), 16 kHz, cached once as
    ``OUT/<kind>-audio.npz`` (float16)."""
    from multiprocessing import get_context

    from instrec.io import atomic_path, load_npz
    from instrec.real_stage import bank_notes

    cache = out / f"{kind}-audio.npz"
    if cache.exists():
        return load_npz(cache)
    notes = [n for bank in banks for n in bank_notes(bank)]
    with get_context("fork").Pool(2) as pool:
        copies = pool.map(_copied_file, [(kind, f["path"]) for f in files], chunksize=16)
        note_copies = pool.map(_copied_note, [(kind, i, s, r) for i, (s, r, _) in enumerate(notes)], chunksize=16)
    data = {**{f"f{i}": x for i, x in enumerate(copies)}, **{f"n{i}": x for i, x in enumerate(note_copies)}}
    with atomic_path(cache) as tmp, open(tmp, "wb") as f:
        np.savez(f, **data)
    return data


def copies_cache(out: Path, fold: str, cache: dict, kind: str, banks: list[str]) -> dict:
    """The copies of ``kind`` (``copy_audio``) read by fold ``fold``'s model: per recording window its embedding,
    probabilities, heard examples, phase and file; per note window its embedding and labels (cached as
    ``OUT/<fold>/probe-<kind>.npz``)."""
    from instrec import params as P
    from instrec.io import load_npz
    from instrec.predict import load_model
    from instrec.probe import recording_windows
    from instrec.real_stage import bank_notes

    path = out / fold / f"probe-{kind}.npz"
    if path.exists():
        return load_npz(path)
    audio = copy_audio(out, kind, cache["files"], banks)
    model = load_model(out / fold / "model")
    classes = cache["classes"]
    rows, note_emb, note_y = [], [], []
    for i in range(len(cache["files"])):
        rows.append(recording_windows(model, audio[f"f{i}"].astype(np.float32), P.SAMPLE_RATE))
    for i, (_, _, label) in enumerate(n for bank in banks for n in bank_notes(bank)):
        e = recording_windows(model, audio[f"n{i}"].astype(np.float32), P.SAMPLE_RATE)["emb"]
        note_emb.append(e)
        note_y.append(np.tile(np.array([c == label for c in classes], np.float32), (len(e), 1)))
    data = {k: np.concatenate([r[k] for r in rows]) for k in ("emb", "probs", "lengths", "phases")}
    data["file_of"] = np.concatenate([np.full(len(r["lengths"]), i) for i, r in enumerate(rows)])
    data["note_emb"], data["note_y"] = np.concatenate(note_emb), np.concatenate(note_y)
    np.savez(path, **data)
    return data


@functools.cache
def libraries() -> dict[str, str]:
    """Each recording in the cache (its path) -> its library (``Recording.library``; a klettres language is one)."""
    from instrec.datasets.recordings import located, read_manifest

    return {str(path): r.library for r, path in located(read_manifest())}


def softmax_probe(train_x, train_y, c: float, balanced: bool):
    """Candidate 39: one multinomial logistic regression over the classes of the rows (one instrument each) and
    "none" (rows with no instrument), on standardised ``x``: a function (n, D) -> (n, C) of the classes' softmax
    probabilities ("none" dropped), NaN where a class has no row."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    on = train_y >= 0.5
    if (on.sum(axis=1) > 1).any():
        raise SystemExit("the multinomial probe's rows must hold one instrument or none")
    target = np.where(on.any(axis=1), np.argmax(on, axis=1), train_y.shape[1])  # C: none
    scaler = StandardScaler().fit(train_x)
    lr = LogisticRegression(C=c, class_weight="balanced" if balanced else None, max_iter=3000)
    lr.fit(scaler.transform(train_x), target)

    def apply(x):
        out = np.full((len(x), train_y.shape[1]), np.nan)
        p = lr.predict_proba(scaler.transform(x))
        for j, k in enumerate(lr.classes_):
            if k < train_y.shape[1]:
                out[:, k] = p[:, j]
        return out
    return apply


def probe(train_x, train_y, train_mask, c: float, balanced: bool, sample_weight=None):
    """``instrec.probe.fit`` as a function (n, D) -> (n, C), NaN where a class was not learned."""
    from instrec.probe import fit, probe_probs

    weight, bias, learned = fit(train_x, train_y, train_mask, balanced, c, sample_weight)
    return lambda x: np.where(learned, probe_probs(weight, bias, x), np.nan)


def library_directions(x, y, libs, k: int) -> np.ndarray:
    """Candidate 44: the ``k`` directions (k, D), in the standardised space of ``x``, along which the libraries of one
    class differ most: per class with two or more libraries among ``libs``, each library's mean window less the mean
    of the class's library means; the scatter of these, each class's divided by its number of libraries (every class
    the same say), summed; its first ``k`` eigenvectors."""
    from sklearn.preprocessing import StandardScaler

    z = StandardScaler().fit(x).transform(x)
    scatter = np.zeros((x.shape[1], x.shape[1]))
    for k_ in range(y.shape[1]):
        rows = y[:, k_] >= 0.5
        names = sorted(set(libs[rows].tolist()))
        if len(names) < 2:
            continue
        means = np.stack([z[rows & (libs == n)].mean(axis=0) for n in names])
        d = means - means.mean(axis=0)
        scatter += d.T @ d / len(names)
    values, vectors = np.linalg.eigh(scatter)
    return vectors[:, np.argsort(values)[::-1][:k]].T


def blind_probe(train_x, train_y, train_mask, c: float, balanced: bool, directions: np.ndarray):
    """Candidate 44: ``probe`` on standardised ``x`` with the ``directions`` (k, D; orthonormal, in that space)
    projected out; the same as a probe whose weights have no part along them."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)

    def blind(x):
        z = scaler.transform(x)
        return z - (z @ directions.T) @ directions

    z = blind(train_x)
    models = {}
    for k in range(train_y.shape[1]):
        target = train_y[train_mask[:, k], k] >= 0.5
        if target.all() or not target.any():
            continue
        models[k] = LogisticRegression(C=c, class_weight="balanced" if balanced else None,
                                       max_iter=2000).fit(z[train_mask[:, k]], target)

    def apply(x):
        out = np.full((len(x), train_y.shape[1]), np.nan)
        zx = blind(x)
        for k, m in models.items():
            out[:, k] = m.predict_proba(zx)[:, 1]
        return out
    return apply


def unheard_copies(out: Path, fold: str, folds: list[str], unheard: tuple[str, ...] = ()) -> dict:
    """Candidate 46: the recordings of every fold but ``fold`` as the fold model that held them out embeds them (its
    windows of its own fold's recordings, the test fixtures and the ``unheard`` libraries left out), labelled: as
    ``probe.attach`` takes recorded notes."""
    from instrec.real_stage import FIXTURE_FILES

    emb, y = [], []
    for k in folds:
        if k == fold:
            continue
        cache = fold_cache(out, k)
        files, classes = cache["files"], cache["classes"]
        window_file = np.repeat(np.arange(len(files)), [f["windows"] for f in files])
        keep = np.array([f["fold"] == k and not any(f["path"].endswith(x) for x in FIXTURE_FILES)
                         and not any(u in libraries()[f["path"]] for u in unheard) for f in files])
        rows = keep[window_file]
        emb.append(cache["emb"][rows])
        y.append(np.array([[c == files[i]["label"] for c in classes] for i in window_file[rows]], np.float32))
    return {"emb": np.concatenate(emb), "y": np.concatenate(y)}


SOLO_GRID = np.round(np.arange(0.15, 0.601, 0.05), 2)  # candidate 45's thresholds


def solo_decide(d: dict, thresholds: np.ndarray, floor: float, floor_gate: float) -> np.ndarray:
    """Candidate 45's decisions on the files of ``d`` (``evaluate``'s ``dump`` of a fold): where the file's gate reaches ``floor_gate``,
    each class at its own ``thresholds``; elsewhere the model's threshold; then the floor as candidate 38g."""
    from instrec.predict import decide

    opened = d["gate"] >= floor_gate
    return decide(d["probs"], np.where(opened[:, None], thresholds[None, :], d["threshold"]), d["trained"], floor,
                  opened)


def class_f1(labels: np.ndarray, present: np.ndarray) -> float:
    """The metric's F1 of one class: the mean of the F1 of its positives and of its negatives."""
    from sklearn.metrics import f1_score

    return float(f1_score(labels > 0, present, average="macro", zero_division=0))


def solo_thresholds(others: list[dict], classes: list[str], floor: float, floor_gate: float) -> np.ndarray:
    """Candidate 45: per class, the threshold of ``SOLO_GRID`` with the best F1 of that class on the ``others``
    (``evaluate``'s dumps of the other folds) pooled, the other classes at the model's threshold; nearest that threshold on a tie;
    the model's threshold for a class no file of ``others`` holds."""
    base = others[0]["threshold"]
    out = np.full(len(classes), base)
    for k in range(len(classes)):
        if not any((d["labels"][:, k] > 0).any() and d["trained"][k] for d in others):
            continue
        best = None
        for t in sorted(SOLO_GRID, key=lambda t: (abs(t - base), t)):
            thresholds = np.full(len(classes), base)
            thresholds[k] = t
            present = np.concatenate([solo_decide(d, thresholds, floor, floor_gate)[:, k] for d in others])
            f1 = class_f1(np.concatenate([d["labels"][:, k] for d in others]), present)
            if best is None or f1 > best[0] + 1e-12:
                best = (f1, t)
        out[k] = best[1]
    return out


def evaluate(cache: dict, fold: str, weight: float, sources: str, c: float, balanced: bool,
             notes: dict | None = None, copies: dict | None = None, test_worn: bool = False,
             gate_notes: dict | None = None, unheard: tuple[str, ...] = (), floor: float | None = None,
             floor_gate: float | None = None, solo: bool = False, dump: dict | None = None) -> dict:
    """``sources`` names what the probe learns on (files, clips, negatives, notes); with ``gate`` among them, the
    probe's share of a window is ``weight`` times a gate's probability that the window holds one real instrument
    alone (candidate 9: a logistic regression learned on the stage's clips, ``probe.one_instrument``, the recordings
    outside the fold and the notes). With ``copies`` in ``sources`` (candidates 13, 33), the probe and the gate also
    learn the ``copies`` (``copies_cache``: worn, pitched, rerecorded) of the recordings outside the fold and of the
    notes; with ``test_worn``, the fold's recordings are scored from their ``copies`` (worn). ``gate_notes``, where
    given, are the notes the gate learns instead of ``notes`` (candidate 27p). The recordings of the libraries
    ``unheard`` (a name's part, as ``grandorgue-demo``) are scored where they are in the fold and never learned, like
    the test fixtures. With a ``floor`` (candidate 38), a file where no class reaches the threshold also reports its
    first learned class if that is at least ``floor`` (F1 only: probabilities, AP and top-1 unchanged); with a
    ``floor_gate`` too (candidate 38g), only where the file rule over its windows' gate probabilities reaches it;
    then ``dump``, where given, receives each file's probabilities and gate (candidate 45 reads them)."""
    from instrec.evaluation import score
    from instrec.predict import file_probability
    from instrec.real_stage import FIXTURE_FILES

    files, classes = cache["files"], cache["classes"]
    window_file = np.repeat(np.arange(len(files)), [f["windows"] for f in files])
    in_fold = np.array([f["fold"] == fold for f in files])
    fixture = np.array([any(f["path"].endswith(x) for x in FIXTURE_FILES)  # never trained on
                        or any(u in libraries()[f["path"]] for u in unheard) for f in files])
    y_files = np.array([[c_ == f["label"] for c_ in classes] for f in files], np.float32)
    parts_x, parts_y, parts_m, parts_lib = [], [], [], []
    if "files" in sources:
        w = ~in_fold[window_file] & ~fixture[window_file]
        parts_x.append(cache["emb"][w])
        parts_y.append(y_files[window_file[w]])
        parts_m.append(np.ones_like(parts_y[-1], bool))
        parts_lib.append(np.array([libraries()[f["path"]] for f in files], object)[window_file[w]])
    if "clips" in sources or "negatives" in sources:  # all the stage's clips, or its no-instrument clips alone
        rows = np.ones(len(cache["clip_y"]), bool) if "clips" in sources else \
            np.array([t == "negative" for t in cache["clip_types"]])
        parts_x.append(cache["clip_emb"][rows])
        parts_y.append(cache["clip_y"][rows])
        parts_m.append(cache["clip_mask"][rows].astype(bool))
        parts_lib.append(np.array([f"clip:{t}" for t in np.array(cache["clip_types"])[rows]], object))
    if "notes" in sources:
        parts_x.append(notes["emb"])
        parts_y.append(notes["y"])
        parts_m.append(np.ones_like(notes["y"], bool))
        parts_lib.append(np.full(len(notes["y"]), "notes", object))
    copy_train = []
    if "copies" in sources:
        keep = ~in_fold[copies["file_of"]] & ~fixture[copies["file_of"]]
        copy_train = [copies["emb"][keep], copies["note_emb"]]
        parts_x += copy_train
        parts_y += [y_files[copies["file_of"][keep]], copies["note_y"]]
        parts_m += [np.ones_like(parts_y[-2], bool), np.ones_like(copies["note_y"], bool)]
        parts_lib += [np.full(int(keep.sum()), "copies", object), np.full(len(copies["note_y"]), "copies", object)]
    sample_weight = None
    if "bylibrary" in sources:  # candidate 23: each library of a class the same total weight
        from instrec.probe import library_weights

        train_y = np.concatenate(parts_y)
        labels = [classes[int(np.argmax(r))] if (r >= 0.5).sum() == 1 else "" for r in train_y]
        if any((r >= 0.5).sum() > 1 for r in train_y):
            raise SystemExit("--by-library: the probe's rows must hold one instrument or none")
        sample_weight = library_weights(labels, np.concatenate(parts_lib))
    apply = softmax_probe(np.concatenate(parts_x), np.concatenate(parts_y), c, balanced) if "softmax" in sources \
        else probe(np.concatenate(parts_x), np.concatenate(parts_y), np.concatenate(parts_m), c, balanced,
                   sample_weight)
    if "+blind" in sources:  # candidate 44: the probe blind to the directions the libraries of a class differ along
        k = int(sources.split("+blind")[1].split("+")[0])
        train_x, train_y = np.concatenate(parts_x), np.concatenate(parts_y)
        directions = library_directions(train_x, train_y, np.concatenate(parts_lib).astype(str), k)
        apply = blind_probe(train_x, train_y, np.concatenate(parts_m), c, balanced, directions)
    train_file, train_emb = window_file, cache["emb"]
    if test_worn:  # the fold's recordings read from their worn copies
        window_file, cache = copies["file_of"], {**cache, **{k: copies[k] for k in ("emb", "probs", "lengths",
                                                                                   "phases")}}
    test = in_fold[window_file]
    p_probe = apply(cache["emb"][test])
    p_model = cache["probs"][test]
    # a class the probe learned counts as learned even where the fold's networks never heard it (candidate 43's
    # modelled ukulele in the fold that holds the ukulele library out); unchanged wherever the probe learns no class
    # the networks did not (every other row)
    cache = {**cache, "trained": list(np.array(cache["trained"], bool) | ~np.isnan(p_probe).all(axis=0))}
    weight = np.asarray(weight, float)  # one share for every class, or one per class
    share = np.broadcast_to(weight, (int(test.sum()), len(classes))).copy()
    if "gate" in sources:
        from instrec.probe import one_instrument

        own = ~in_fold[train_file] & ~fixture[train_file]
        notes = notes if gate_notes is None else gate_notes
        gx = [cache["clip_emb"], train_emb[own]] + ([notes["emb"]] if notes is not None else []) + copy_train
        gy = [one_instrument(cache["clip_y"], cache["clip_mask"]), np.ones(int(own.sum()), bool)] + \
            ([np.ones(len(notes["emb"]), bool)] if notes is not None else []) + \
            [np.ones(len(x), bool) for x in copy_train]
        gate = probe(np.concatenate(gx), np.concatenate(gy).astype(np.float32)[:, None], None, 1.0, True)
        g = gate(cache["emb"][test])
        if "solo" in sources:  # candidate 16: also where the head reports at most one instrument on the window
            trained = np.array(cache["trained"], bool)
            g = np.maximum(g, (((p_model >= cache["threshold"]) & trained[None, :]).sum(axis=1) <= 1)[:, None])
        share = weight * g
    else:
        g = None
    blend = np.where(np.isnan(p_probe), p_model, (1 - share) * p_model + share * np.nan_to_num(p_probe))
    file_ids = window_file[test]
    probs = np.stack([file_probability(blend[file_ids == i], cache["lengths"][test][file_ids == i],
                                       cache["rule"], cache["phases"][test][file_ids == i])
                      for i in np.flatnonzero(in_fold)])
    labels = y_files[in_fold]
    result = score(probs, labels, np.ones_like(labels, bool), classes, cache["threshold"],
                   np.array(cache["trained"]))
    if floor is not None:  # the decisions with the floor: F1 per class again, AP and top-1 as they are
        from instrec.predict import decide

        opened = True
        if floor_gate is not None:  # the file rule over the windows' gate probabilities
            file_gate = np.array([file_probability(g[file_ids == i], cache["lengths"][test][file_ids == i],
                                                   cache["rule"], cache["phases"][test][file_ids == i])[0]
                                  for i in np.flatnonzero(in_fold)])
            opened = file_gate >= floor_gate
            if dump is not None:  # each file's probabilities and gate, for reading a row's answers
                dump.update(probs=probs, gate=file_gate, labels=labels, trained=np.array(cache["trained"], bool),
                            threshold=cache["threshold"], classes=classes,
                            libraries=[libraries()[files[f]["path"]] for f in np.flatnonzero(in_fold)])
        present = decide(probs, cache["threshold"], np.array(cache["trained"], bool), floor, opened)
        if solo:  # candidate 40: at most the first learned class where the gate hears one instrument alone
            first = np.arange(len(classes)) == np.argmax(np.where(cache["trained"], probs, -1.0), axis=1)[:, None]
            present = np.where(np.asarray(opened, bool)[:, None], present & first, present)
        decided = score(present.astype(np.float32), labels, np.ones_like(labels, bool), classes, 0.5,
                        np.array(cache["trained"]))
        for k, r in result["per_class"].items():
            r["f1_macro"] = decided["per_class"][k]["f1_macro"]
        result["f1_macro_present"] = decided["f1_macro_present"]
    per_class = {k: {"f1_macro": r["f1_macro"], "ap": r.get("ap")} for k, r in result["per_class"].items()
                 if r["positives"]}
    aps = [r["ap"] for r in per_class.values() if r["ap"] is not None]
    # false alarms of the classes no file of the fold holds (mandolin, say): per such class, the files (by their own
    # class) where it is reported, and where it is the file's first class
    trained = np.array(cache["trained"], bool)
    first = np.argmax(np.where(trained, probs, -1.0), axis=1)
    alarms = {}
    reported = (probs >= cache["threshold"]) & trained if floor is None else present
    for k in np.flatnonzero(trained & ~labels.any(axis=0)):
        on = reported[:, k]
        alarms[classes[k]] = {"reported": {c: int((on & (labels[:, j] > 0)).sum()) for j, c in enumerate(classes)
                                           if (on & (labels[:, j] > 0)).any()},
                              "first": int((first == k).sum())}
    # per class: the fold's files without it where it is reported (its false alarms, present in the fold or not), by
    # the files' own class
    false_reports = {}
    for k in np.flatnonzero(trained):
        wrong = reported[:, k] & (labels[:, k] <= 0)
        false_reports[classes[k]] = {c: int((wrong & (labels[:, j] > 0)).sum()) for j, c in enumerate(classes)
                                     if (wrong & (labels[:, j] > 0)).any()}
    # per class of the fold's files: how often each class is the file's first (a confusion row)
    confusion = {c: {classes[k]: int(n) for k, n in zip(*np.unique(first[labels[:, j] > 0], return_counts=True))}
                 for j, c in enumerate(classes) if (labels[:, j] > 0).any()}
    # per library of the fold: on how many of its files its own class is reported, and first
    by_library = {}
    own = np.argmax(labels, axis=1)
    for i, f in enumerate(np.flatnonzero(in_fold)):
        row = by_library.setdefault(libraries()[files[f]["path"]], {"files": 0, "reported": 0, "first": 0})
        row["files"] += 1
        row["reported"] += int(reported[i, own[i]])
        row["first"] += int(first[i] == own[i])
    return {"files": int(in_fold.sum()), "f1_macro_present": result["f1_macro_present"],
            "map_present": float(np.mean(aps)), "top1": result["top1"], "per_class": per_class,
            "absent_reported": alarms, "false_reports": false_reports, "first": confusion, "libraries": by_library}


def main() -> None:
    from instrec.io import atomic_write_json

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True, help="the real_folds.py output (OUT/<fold>/model)")
    parser.add_argument("--fold", action="append", required=True)
    parser.add_argument("--json", type=Path, help="write every variant's per-fold scores here")
    parser.add_argument("--notes", help="also the variant whose probe learns the recorded notes of this bank (tonejs)")
    parser.add_argument("--modelled", action="append", default=[], choices=["mandolin", "synthesizer", "ukulele"],
                        help="also candidate 11: candidate 9 whose probe and gate learn pieces of this modelled "
                             "instrument (with --notes)")
    parser.add_argument("--degraded", action="store_true",
                        help="also candidate 13 (candidate 9 whose probe and gate learn worn copies too) and both "
                             "scored on the fold's worn copies (with --notes)")
    parser.add_argument("--c", type=float, action="append", default=[],
                        help="also candidate 20: candidate 9 with this C for the probe (with --notes), repeated")
    parser.add_argument("--share", type=float, action="append", default=[],
                        help="also candidate 22: candidate 9 with this share for the probe (with --notes), repeated")
    parser.add_argument("--by-library", action="store_true",
                        help="also candidate 23: candidate 9 with each library of a class the same say in the probe "
                             "(with --notes)")
    parser.add_argument("--more-notes", action="append", default=[], metavar="BANK",
                        help="also candidate 26: candidate 9 whose probe and gate also learn the recorded notes of "
                             "this bank (freepats; with --notes), repeated")
    parser.add_argument("--candidate-notes", action="append", default=[], metavar="BANK",
                        help="also candidate 27 (27p): candidate 26 whose probe and gate (probe alone) learn this "
                             "bank's notes too (a General MIDI SoundFont; with --more-notes), repeated")
    parser.add_argument("--copies", action="append", default=[], choices=["pitched", "rerecorded", "worn"],
                        help="also candidate 33 (33p, 33r, 33w): candidate 26 whose probe and gate learn each "
                             "recording and note once more as a copy of this kind (with --more-notes), repeated")
    parser.add_argument("--beside", type=Path, metavar="MODEL",
                        help="also candidate 36: candidate 26 with this model's networks (E4: "
                             "src/instrec/models/base) beside each fold's stage networks, as one ensemble (with "
                             "--more-notes)")
    parser.add_argument("--floor", type=float, action="append", default=[],
                        help="also candidate 38: candidate 26 where a file with no class at the threshold reports its "
                             "first class down to this floor (with --more-notes), repeated")
    parser.add_argument("--floor-gate", type=float, metavar="G",
                        help="also candidate 38g for each --floor: the floor only where the file's gate (the file rule "
                             "over its windows) is at least G")
    parser.add_argument("--one-where-alone", action="store_true",
                        help="also candidate 40: candidate 38g (with --floor and --floor-gate) reporting at most the "
                             "first class where the gate hears one instrument alone")
    parser.add_argument("--softmax", action="store_true",
                        help="also candidate 39: candidate 38g (with --floor and --floor-gate) whose probe is one "
                             "multinomial regression over the classes and none")
    parser.add_argument("--pooled", action="store_true",
                        help="also candidates 41 and 41b: candidate 38g (with --floor and --floor-gate) whose probe "
                             "and gate read the networks' pooled convolution features instead of (41) or beside "
                             "(41b) their embeddings")
    parser.add_argument("--unheard", action="append", default=[], metavar="LIBRARY",
                        help="the recordings of the libraries whose name holds this (grandorgue-demo) are scored in "
                             "their fold and never learned by any probe or gate (a baseline that never heard them)")
    parser.add_argument("--unheard-copies", action="store_true",
                        help="also candidate 46: candidate 38g (with --floor and --floor-gate) whose probe and gate "
                             "also learn the other folds' recordings as their own fold model (which held them out) "
                             "embeds them")
    parser.add_argument("--solo-thresholds", action="store_true",
                        help="also candidate 45: candidate 38g (with --floor and --floor-gate, and --fold A --fold B "
                             "--fold C) with a threshold per class where the gate opens, chosen on the other folds")
    parser.add_argument("--blind", action="append", type=int, default=[], metavar="K",
                        help="also candidate 44: candidate 38g (with --floor and --floor-gate) whose probe is blind to "
                             "the K directions along which the libraries of one class differ most, repeated")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="compute only the rows whose name starts with this ('candidate 38g'), repeated")
    parser.add_argument("--only-candidates", action="store_true",
                        help="of the standing rows, only 'model alone' and candidate 9 (faster)")
    args = parser.parse_args()
    variants = {"model alone": (0.0, "files+clips", 1.0, True),
                "candidate 2: probe on recordings and negatives": (0.5, "files+negatives", 1.0, True),
                "blend (primary)": (0.5, "files+clips", 1.0, True),
                "blend, probe unbalanced": (0.5, "files+clips", 1.0, False),
                "blend, probe on files only": (0.5, "files", 1.0, True),
                "blend, probe on clips only": (0.5, "clips", 1.0, True),
                "probe alone": (1.0, "files+clips", 1.0, True)}
    if args.notes:
        variants[f"candidate 3: probe on recordings, {args.notes} notes and negatives"] = \
            (0.5, "files+notes+negatives", 1.0, True)
        variants[CAND9] = (0.5, "files+notes+negatives+gate", 1.0, True)
        variants["candidate 16: candidate 9, and where the head reports at most one instrument"] = \
            (0.5, "files+notes+negatives+gate+solo", 1.0, True)
    for c in args.c if args.notes else ():
        variants[f"candidate 20: candidate 9, probe C = {c:g}"] = (0.5, "files+notes+negatives+gate", c, True)
    for w in args.share if args.notes else ():
        variants[f"candidate 22: candidate 9, the probe's share {w:g}"] = (w, "files+notes+negatives+gate", 1.0, True)
    if args.notes and args.by_library:
        variants["candidate 23: candidate 9, each library of a class the same say"] = \
            (0.5, "files+notes+negatives+gate+bylibrary", 1.0, True)
        for w in args.share:
            variants[f"candidate 23 with the share {w:g}"] = (w, "files+notes+negatives+gate+bylibrary", 1.0, True)
    more = f"candidate 26: candidate 9, probe and gate learn the {' and '.join(args.more_notes)} notes too"
    if args.notes and args.more_notes:
        variants[more] = (0.5, "files+notes+negatives+gate", 1.0, True)
    further = f"candidate 27: candidate 26, probe and gate learn the {' and '.join(args.candidate_notes)} notes too"
    further_p = f"candidate 27p: candidate 26, the probe alone learns the {' and '.join(args.candidate_notes)} " \
        "notes too"
    if args.notes and args.more_notes and args.candidate_notes:
        variants[further] = variants[further_p] = (0.5, "files+notes+negatives+gate", 1.0, True)
    if args.only_candidates:
        variants = {k: v for k, v in variants.items() if k == "model alone" or k == CAND9
                    or k.startswith(("candidate 20", "candidate 22", "candidate 23", "candidate 26", "candidate 27",
                                     "candidate 33"))}
    modelled = "candidate 11: candidate 9, probe and gate learn the modelled " + " and ".join(args.modelled)
    whole = "candidate 12: candidate 11, the probe's whole say for the modelled " + " and ".join(args.modelled)
    if args.notes and args.modelled:
        variants[modelled] = (0.5, "files+notes+negatives+gate", 1.0, True)
        from instrec.datasets.classes import OPENMIC_CLASSES
        from instrec.datasets.synth.modelled import WHOLE_SAY
        from instrec.probe import BLEND, MODELLED_BLEND

        variants[whole] = ([MODELLED_BLEND if c in args.modelled and c in WHOLE_SAY else BLEND
                            for c in OPENMIC_CLASSES],
                           "files+notes+negatives+gate", 1.0, True)
    copied = {f"candidate 33{kind[0]}: candidate 26, probe and gate learn {kind} copies too": kind
              for kind in (args.copies if args.notes and args.more_notes else ())}
    variants.update({name: (0.5, "files+notes+negatives+gate+copies", 1.0, True) for name in copied})
    besides = {}
    if args.notes and args.more_notes and args.beside:
        besides = {"candidate 36: candidate 26 with E4 beside the stage": 0.5,
                   "candidate 36, the eight networks alone": 0.0}
        variants.update({name: (w, "files+notes+negatives+gate", 1.0, True) for name, w in besides.items()})
    worn_variants = {}
    if args.notes and args.degraded:
        cand13 = "candidate 13: candidate 9, probe and gate learn worn copies too"
        variants[cand13] = (0.5, "files+notes+negatives+gate+copies", 1.0, True)
        worn_variants = {f"{CAND9}, worn fold": CAND9, f"{cand13}, worn fold": cand13}
    # candidate 26 decided with a floor: name -> (floor, the gate it needs or None, at most one class where the gate
    # hears one alone, the probe's sources)
    floors = {}
    base = "files+notes+negatives+gate"
    for f in (args.floor if args.notes and args.more_notes else ()):
        floors[f"candidate 38: candidate 26, the first class down to {f:g} where none is reported"] = \
            (f, None, False, base)
        if args.floor_gate is not None:
            floors[f"candidate 38g: candidate 38 at {f:g} where the gate reaches {args.floor_gate:g}"] = \
                (f, args.floor_gate, False, base)
    if args.floor_gate is not None and args.floor:
        f = args.floor[0]
        if args.softmax:
            floors[f"candidate 39: candidate 38g at {f:g}, the probe one multinomial regression"] = \
                (f, args.floor_gate, False, base + "+softmax")
        if args.pooled:
            floors[f"candidate 41: candidate 38g at {f:g}, probe and gate on the pooled features"] = \
                (f, args.floor_gate, False, base + "+pooled")
            floors[f"candidate 41b: candidate 38g at {f:g}, probe and gate on the pooled features and embeddings"] = \
                (f, args.floor_gate, False, base + "+pooled+both")
        if args.pooled and args.one_where_alone:
            floors[f"candidate 42: candidate 41b at {f:g}, one class where the gate hears one alone"] = \
                (f, args.floor_gate, True, base + "+pooled+both")
        if args.one_where_alone:
            floors[f"candidate 40: candidate 38g at {f:g}, one class where the gate hears one alone"] = \
                (f, args.floor_gate, True, base)
        if args.unheard_copies:
            floors[f"candidate 46: candidate 38g at {f:g}, probe and gate learn each library as unheard too"] = \
                (f, args.floor_gate, False, base + "+cross")
        for k in args.blind:
            floors[f"candidate 44: candidate 38g at {f:g}, the probe blind to {k} directions of the libraries"] = \
                (f, args.floor_gate, False, base + f"+blind{k}")
        if args.modelled:
            floors[f"candidate 43: candidate 38g at {f:g}, probe and gate learn the modelled "
                   + " and ".join(args.modelled)] = (f, args.floor_gate, False, base + "+modelled")
    variants.update({name: (0.5, sources, 1.0, True) for name, (*_, sources) in floors.items()})
    if args.only:
        variants = {k: v for k, v in variants.items() if k.startswith(tuple(args.only))}
        worn_variants = {k: v for k, v in worn_variants.items() if k.startswith(tuple(args.only))}
    results = {name: {} for name in [*variants, *worn_variants]}
    solo_row = next((n for n in floors if n.startswith("candidate 38g")), None) if args.solo_thresholds else None
    dumps = {}
    for fold in args.fold:
        cache = fold_cache(args.out, fold)
        notes = notes_cache(args.out, fold, args.notes, cache["classes"]) if args.notes else None
        worn = copies_cache(args.out, fold, cache, "worn", [args.notes]) if args.notes and args.degraded else None

        def with_banks(base: dict, banks: list[str]) -> dict:  # ``base``'s notes and those of ``banks``
            extra = [notes_cache(args.out, fold, bank, cache["classes"]) for bank in banks]
            return {k: np.concatenate([base[k]] + [e[k] for e in extra]) for k in ("emb", "y")}

        for name, (weight, sources, c, balanced) in variants.items():
            given = notes
            if name in (modelled, whole):  # the recorded notes and the modelled pieces, as train-default gives them
                pieces = modelled_cache(args.out, fold, tuple(args.modelled), cache["classes"])
                given = {k: np.concatenate([notes[k], pieces[k]]) for k in ("emb", "y")}
            gate_given = None
            if name in (more, further, further_p):  # the first bank's notes and every further bank's
                given = with_banks(notes, args.more_notes)
            if name in (further, further_p):  # and the candidate banks' (27p: the gate learns candidate 26's notes)
                gate_given = given if name == further_p else None
                given = with_banks(given, args.candidate_notes)
            if name in floors:  # candidate 26, decided with the floor
                read, given = cache, with_banks(notes, args.more_notes)
                if "+cross" in sources:  # candidate 46: and the other folds' recordings as unheard
                    cross = unheard_copies(args.out, fold, args.fold, tuple(args.unheard))
                    given = {k: np.concatenate([given[k], cross[k]]) for k in ("emb", "y")}
                    sources = sources.replace("+cross", "")
                if "+modelled" in sources:  # candidate 43: and the modelled instruments' pieces
                    pieces = modelled_cache(args.out, fold, tuple(args.modelled), cache["classes"])
                    given = {k: np.concatenate([given[k], pieces[k]]) for k in ("emb", "y")}
                    sources = sources.replace("+modelled", "")
                if "+pooled" in sources:  # candidates 41, 41b: other features for the probe and the gate
                    read, given = pooled(cache, given, pooled_reads(args.out, cache, fold,
                                                                    [args.notes, *args.more_notes]),
                                         "+both" in sources)
                    sources = sources.replace("+pooled", "").replace("+both", "")
                results[name][fold] = evaluate(read, fold, weight, sources, c, balanced,
                                               given, unheard=tuple(args.unheard),
                                               floor=floors[name][0], floor_gate=floors[name][1],
                                               solo=floors[name][2],
                                               dump=dumps.setdefault(fold, {}) if name == solo_row else None)
                continue
            if name in copied:  # candidate 26's notes, and the copies of its recordings and notes
                given = with_banks(notes, args.more_notes)
                copies = copies_cache(args.out, fold, cache, copied[name], [args.notes, *args.more_notes])
            if name in besides:  # candidate 26's notes, everything read by both models
                reads = beside_reads(args.out, args.beside, cache, fold, [args.notes, *args.more_notes])
                both, given = beside(cache, with_banks(notes, args.more_notes), reads)
                results[name][fold] = evaluate(both, fold, weight, sources, c, balanced, given,
                                               unheard=tuple(args.unheard))
                continue
            results[name][fold] = evaluate(cache, fold, weight, sources, c, balanced, given,
                                           copies if name in copied else worn,
                                           gate_notes=gate_given, unheard=tuple(args.unheard))
        for name, of in worn_variants.items():
            weight, sources, c, balanced = variants[of]
            results[name][fold] = evaluate(cache, fold, weight, sources, c, balanced, notes, worn, test_worn=True)
    if solo_row is not None:  # candidate 45: each fold decided with thresholds chosen on the other folds
        name = "candidate 45: candidate 38g with a threshold per class where the gate opens, from the other folds"
        results[name] = {}
        for fold in args.fold:
            d = dumps[fold]
            same = solo_decide(d, np.full(len(d["classes"]), d["threshold"]), args.floor[0], args.floor_gate)
            assert all(abs(class_f1(d["labels"][:, j], same[:, j]) - results[solo_row][fold]["per_class"][c]["f1_macro"])
                       < 1e-9 for j, c in enumerate(d["classes"]) if c in results[solo_row][fold]["per_class"]), \
                "candidate 45's decisions at the one threshold are not candidate 38g's"
            others = [dumps[f] for f in args.fold if f != fold]
            thresholds = solo_thresholds(others, d["classes"], args.floor[0], args.floor_gate)
            present = solo_decide(d, thresholds, args.floor[0], args.floor_gate)
            row = json.loads(json.dumps(results[solo_row][fold]))  # AP and top-1 unchanged by construction
            for j, c in enumerate(d["classes"]):
                if c in row["per_class"]:
                    row["per_class"][c]["f1_macro"] = class_f1(d["labels"][:, j], present[:, j])
            row["f1_macro_present"] = float(np.mean([r["f1_macro"] for r in row["per_class"].values()]))
            row["thresholds"] = {c: float(t) for c, t in zip(d["classes"], thresholds) if t != d["threshold"]}
            results[name][fold] = row
            print(f"{name}, fold {fold}: thresholds {row['thresholds']}")
    print("| variant | " + " | ".join(args.fold) + " | mean F1 / mAP / top-1 |")
    print("|---|" + "---|" * (len(args.fold) + 1))
    for name, per in results.items():
        cells = [f"{per[f]['f1_macro_present']:.3f} / {per[f]['map_present']:.3f} / {per[f]['top1']:.3f}"
                 for f in args.fold]
        mean = [np.mean([per[f][k] for f in args.fold]) for k in ("f1_macro_present", "map_present", "top1")]
        print(f"| {name} | " + " | ".join(cells) + " | " + " / ".join(f"{m:.3f}" for m in mean) + " |")
    for name, per in results.items():  # the classes a fold has no file of, where they are reported
        for f in args.fold:
            said = {c: a for c, a in per[f].get("absent_reported", {}).items() if a["reported"] or a["first"]}
            if said:
                where = lambda a: ", ".join(f"{k} {n}" for k, n in a["reported"].items())  # noqa: E731
                print(f"{name}, fold {f} ({per[f]['files']} files): " + "; ".join(
                    f"{c} reported on {sum(a['reported'].values())} ({where(a)}), first on {a['first']}"
                    for c, a in said.items()))
    if args.json:
        atomic_write_json(args.json, results)


if __name__ == "__main__":
    main()
