"""Candidates 8 and 9: the probe where a window holds one instrument alone (evaluation of candidates only).

The shipped model's networks and head (``probe.networks_only``: its probe and gate taken off) read, as ``predict``
reads a file: the real recordings the probe learns from, the tonejs notes,
the held-out csound test clips of ``instrec train-default``, real-dev, and the nine no-instrument signals and speech;
and embeds the stage's own training clips (``runs/default-model/real/clips-*.npz``). Cached in ``OUT/reads.npz``.
Then the probe of candidate 3 (recordings, notes, no-instrument clips) is fitted as ``instrec.probe.fit`` fits it,
and a gate: one logistic regression (standardised embeddings, balanced, C = 1) learned on the stage's clips, the
recordings and the notes (one instrument each). Candidate 8's gate tells one instrument from none or several, on the
clips whose count the labelled classes give; candidate 9's (``probe.one_instrument``, shipped) tells one instrument
alone with every class labelled (the real parts played alone) from every other clip, rendered ones included. A
window's blend is ``(1 - w g) head + w g probe`` with w = 0.5 and g the gate's probability.
Scored on csound (F1 at the model's threshold, mAP, top-1) and real-dev, beside the head alone and the ungated
probe; the signals' reported instruments are printed.

    python scripts/gate_probe.py [--out runs/gate] [--degraded]  # --degraded: also candidate 13 ("gate 13")
        [--c 0.1]  # also candidate 20: gate 9 with the probe's C at this value ("gate 9, C = 0.1")
        [--share 0.7]  # also candidate 22: gate 9 with this share for the probe ("gate 9, share 0.7")
        [--by-library]  # also candidate 23: gate 9, each library of a class the same say ("gate 9, by library")
        [--more-notes freepats]  # also candidate 26: probe and gate 9 learn this bank's notes too ("gate 26")
        [--model runs/default-model-fp/model --work runs/default-model-fp --more-recorded-notes freepats]  # read
            # with a candidate recipe's networks and its stage clips (candidate 29) instead of the shipped model's
        [--candidate-notes fluidr3 ...]  # also candidate 27: gate 26 whose probe and gate learn these banks' notes
                                         # too ("gate 27"), and whose probe alone does ("gate 27p"; with --more-notes)
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def reads(out: Path, work: Path, networks: Path | None = None, recipe=None) -> dict:
    from instrec.datasets.openmic import OpenMIC
    from instrec.datasets.synth.negatives import test_signals
    from instrec.default_model import Recipe, recipe_stage
    from instrec.io import load_npz
    from instrec.predict import SHIPPED, load_model
    from instrec.probe import clip_embeddings, networks_only, recording_windows, training_recordings
    from instrec.real_stage import bank_notes, build_clips

    cache = out / "reads.npz"
    if cache.exists():
        data = load_npz(cache)
        return {**data, **json.loads((out / "reads.json").read_text())}
    from long_files import RATE, speech

    model = load_model(networks_only(networks or SHIPPED, out / "networks"))
    classes = model.classes
    stage = recipe_stage(recipe or Recipe())

    def onehot(label):
        return np.array([c == label for c in classes], np.float32)

    groups = {}

    def read_all(name, items):
        emb, probs, lengths, phases, file_of, y = [], [], [], [], [], []
        for i, (source, rate, label) in enumerate(items):
            r = recording_windows(model, source, rate)
            emb.append(r["emb"])
            probs.append(r["probs"])
            lengths.append(r["lengths"])
            phases.append(r["phases"])
            file_of.append(np.full(len(r["lengths"]), i))
            y.append(label)
        groups[name] = {"emb": np.concatenate(emb), "probs": np.concatenate(probs),
                        "lengths": np.concatenate(lengths), "phases": np.concatenate(phases),
                        "file": np.concatenate(file_of), "y": np.stack(y)}
        print(name, len(items), "files", flush=True)

    read_all("rec", [(p, None, onehot(label)) for p, label in training_recordings(None, stage.hold_out)])
    read_all("notes", [(s, r, onehot(label)) for s, r, label in bank_notes("tonejs")])
    dataset = OpenMIC(work / "data")
    test = dataset.split("test")
    read_all("csound", [(dataset.audio_path(k), None, y) for k, y in zip(test.keys, test.labels.astype(np.float32))])
    rows = list(csv.DictReader(open(FIXTURES / "real-dev" / "labels.csv", newline="")))
    read_all("realdev", [(FIXTURES / "real-dev" / r["file"], None,
                          np.array([c in r["instruments"].split(";") for c in classes], np.float32)) for r in rows])
    signals = {**test_signals(), "speech": speech()}
    read_all("signals", [(x, RATE, onehot("voice" if n == "speech" else None)) for n, x in signals.items()])
    clips = build_clips(work / "real", stage, classes, work / "data", None)
    data = {f"{g}_{k}": v for g, d in groups.items() for k, v in d.items()}
    data["clip_emb"] = clip_embeddings(model, clips["x"])
    data["clip_y"], data["clip_mask"] = clips["y"], clips["mask"]
    data["csound_mask"] = test.y_mask
    out.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **data)
    about = {"classes": classes, "threshold": model.threshold, "rule": model.file_rule,
             "trained": [bool(t) for t in model.trained], "signals": list(signals),
             "clip_types": [m["type"] for m in clips["meta"]]}
    (out / "reads.json").write_text(json.dumps(about))
    return {**data, **about}


def worn_reads(out: Path, work: Path) -> dict:
    """The worn copies (``probe.worn_copy``) of the recordings and notes the probe learns from, read by the shipped
    model's networks (cached in ``OUT/worn.npz``)."""
    from instrec import params as P
    from instrec.default_model import Recipe, recipe_stage
    from instrec.io import load_npz
    from instrec.predict import SHIPPED, load_model
    from instrec.probe import networks_only, recording_windows, training_recordings, worn_copy, worn_key
    from instrec.real_stage import bank_notes

    cache = out / "worn.npz"
    if cache.exists():
        return load_npz(cache)
    model = load_model(networks_only(SHIPPED, out / "networks"))
    stage = recipe_stage(Recipe())
    emb, label_of = [], []
    items = [(worn_copy(p, None, worn_key(p)), label) for p, label in training_recordings(None, stage.hold_out)]
    items += [(worn_copy(s, r, f"note/{i}"), label) for i, (s, r, label) in enumerate(bank_notes("tonejs"))]
    for x, label in items:
        e = recording_windows(model, x, P.SAMPLE_RATE)["emb"]
        emb.append(e)
        label_of.append(np.tile(np.array([c == label for c in model.classes], np.float32), (len(e), 1)))
    data = {"emb": np.concatenate(emb), "y": np.concatenate(label_of)}
    np.savez(cache, **data)
    return data


def more_notes_reads(out: Path, bank: str, networks: Path | None = None) -> dict:
    """The recorded notes of ``bank`` read by the shipped model's networks, per window its embedding and labels
    (cached in ``OUT/notes-<bank>.npz``)."""
    from instrec.io import load_npz
    from instrec.predict import SHIPPED, load_model
    from instrec.probe import networks_only, recording_windows
    from instrec.real_stage import bank_notes

    cache = out / f"notes-{bank}.npz"
    if cache.exists():
        return load_npz(cache)
    model = load_model(networks_only(networks or SHIPPED, out / "networks"))
    emb, label_of = [], []
    for samples, rate, label in bank_notes(bank):
        e = recording_windows(model, samples, rate)["emb"]
        emb.append(e)
        label_of.append(np.tile(np.array([c == label for c in model.classes], np.float32), (len(e), 1)))
    data = {"emb": np.concatenate(emb), "y": np.concatenate(label_of)}
    np.savez(cache, **data)
    return data


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from instrec.evaluation import score
    from instrec.predict import file_probability
    from instrec.probe import fit, one_instrument, probe_probs

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("runs/gate"))
    parser.add_argument("--work", type=Path, default=Path("runs/default-model"))
    parser.add_argument("--degraded", action="store_true",
                        help="also candidate 13: probe and gate 9 learning the worn copies too ('gate 13')")
    parser.add_argument("--c", type=float, action="append", default=[],
                        help="also candidate 20: gate 9 with this C for the probe, repeated")
    parser.add_argument("--share", type=float, action="append", default=[],
                        help="also candidate 22: gate 9 with this share for the probe, repeated")
    parser.add_argument("--by-library", action="store_true",
                        help="also candidate 23: gate 9, the probe with each library of a class the same say")
    parser.add_argument("--more-notes", action="append", default=[], metavar="BANK",
                        help="also candidate 26: probe and gate 9 learn this bank's recorded notes too ('gate 26')")
    parser.add_argument("--candidate-notes", action="append", default=[], metavar="BANK",
                        help="also candidate 27: gate 26 whose probe and gate ('gate 27'), or probe alone "
                             "('gate 27p'), learn this bank's notes too (a General MIDI SoundFont: "
                             "real_stage.played_notes), repeated")
    parser.add_argument("--model", type=Path,
                        help="read with this model's networks instead of the shipped model's (a candidate recipe's "
                             "export; its --work holds its data and stage clips)")
    parser.add_argument("--more-recorded-notes", action="append", default=[], metavar="BANK",
                        help="the candidate recipe's more_recorded_notes (its stage clips), repeated")
    args = parser.parse_args()
    if args.model and args.degraded:
        parser.error("--degraded reads with the shipped model's networks: drop --model")
    if args.candidate_notes and not args.more_notes:
        parser.error("--candidate-notes is measured against gate 26: give --more-notes too")
    from instrec.default_model import Recipe

    recipe = Recipe(more_recorded_notes=tuple(args.more_recorded_notes))
    d = reads(args.out, args.work, args.model, recipe)
    classes, thr, rule = d["classes"], d["threshold"], d["rule"]
    trained = np.array(d["trained"])
    neg = np.array([t == "negative" for t in d["clip_types"]])
    # the probe: candidate 3
    px = np.concatenate([d["rec_emb"], d["notes_emb"], d["clip_emb"][neg]])
    py = np.concatenate([d["rec_y"][d["rec_file"]], d["notes_y"][d["notes_file"]],
                         np.zeros((neg.sum(), len(classes)), np.float32)])
    weight, bias, learned = fit(px, py)
    probes = {}
    if args.degraded:  # candidate 13: the probe learns the worn copies too
        worn = worn_reads(args.out, args.work)
        probes["gate 13"] = fit(np.concatenate([px, worn["emb"]]), np.concatenate([py, worn["y"]]))[:2]
    for c in args.c:  # candidate 20: the probe with another C, gate 9 unchanged
        probes[f"gate 9, C = {c:g}"] = fit(px, py, c=c)[:2]
    shares = {f"gate 9, share {w:g}": w for w in args.share}  # candidate 22: the probe's share, gate 9 unchanged
    if args.by_library:  # candidate 23: each library of a class the same say in the probe, gate 9 unchanged
        from instrec.default_model import Recipe, recipe_stage
        from instrec.probe import library_weights
        from instrec.real_stage import training_recordings

        rows = [r for r, _ in training_recordings(None, recipe_stage(Recipe()).hold_out)]  # reads()' order
        assert len(rows) == len(d["rec_y"]), "the cached reads are of another list of recordings"
        libs = np.concatenate([np.array([r.library for r in rows], object)[d["rec_file"]],
                               np.full(len(d["notes_emb"]), "notes", object), np.full(int(neg.sum()), "clip", object)])
        labels = [classes[int(np.argmax(r))] if r.any() else "" for r in py]
        probes["gate 9, by library"] = fit(px, py, sample_weight=library_weights(labels, libs))[:2]
    more = [more_notes_reads(args.out, bank, args.model) for bank in args.more_notes]
    if more:  # candidate 26: the probe learns the further banks' notes too
        probes["gate 26"] = fit(np.concatenate([px] + [m["emb"] for m in more]),
                                np.concatenate([py] + [m["y"] for m in more]))[:2]
    further = [more_notes_reads(args.out, bank, args.model) for bank in args.candidate_notes]
    if further:  # candidate 27: the probe learns these banks' notes too (27p: its gate is gate 26)
        probes["gate 27"] = probes["gate 27p"] = fit(np.concatenate([px] + [m["emb"] for m in more + further]),
                                                     np.concatenate([py] + [m["y"] for m in more + further]))[:2]
    # the gates
    gates = {}
    mask = d["clip_mask"].astype(bool)
    labelled = ((d["clip_y"] >= 0.5) & mask).sum(axis=1)
    known = mask.all(axis=1) | (labelled >= 2)
    for name, rows, target in (("gate 8", known, labelled[known] == 1),
                               ("gate 9", np.ones(len(mask), bool), one_instrument(d["clip_y"], mask))):
        gx = np.concatenate([d["clip_emb"][rows], d["rec_emb"], d["notes_emb"]])
        gy = np.concatenate([target, np.ones(len(d["rec_emb"]) + len(d["notes_emb"]), bool)]).astype(np.float32)
        gates[name] = fit(gx, gy[:, None])[:2]
        print(f"{name}: {len(gx)} windows, {int(gy.sum())} with one instrument")
        if name == "gate 9" and args.degraded:
            gx, gy = np.concatenate([gx, worn["emb"]]), np.concatenate([gy, np.ones(len(worn["emb"]), np.float32)])
            gates["gate 13"] = fit(gx, gy[:, None])[:2]
            print(f"gate 13: {len(gx)} windows, {int(gy.sum())} with one instrument")
        # candidates 26 and 27: the further banks' notes are one instrument alone too (27p keeps gate 26)
        for later, banks in (("gate 26", more), ("gate 27", more + further)):
            if name == "gate 9" and banks and (later == "gate 26" or further):
                more_x = np.concatenate([m["emb"] for m in banks])
                gates[later] = fit(np.concatenate([gx, more_x]),
                                   np.concatenate([gy, np.ones(len(more_x), np.float32)])[:, None])[:2]
                print(f"{later}: {len(gx) + len(more_x)} windows")
        if "gate 26" in gates:
            gates["gate 27p"] = gates["gate 26"]

    def files(group, gate_mode):
        emb, head = d[f"{group}_emb"], d[f"{group}_probs"]
        p = probe_probs(*probes.get(gate_mode, (weight, bias)), emb)
        if gate_mode == "head":
            g = np.zeros(len(emb))
        elif gate_mode == "ungated":
            g = np.ones(len(emb))
        elif gate_mode == "solo gate 16":  # candidate 16: gate 9, or the head hears at most one instrument
            solo = ((head >= thr) & trained[None, :]).sum(axis=1) <= 1
            g = np.maximum(probe_probs(*gates["gate 9"], emb)[:, 0], solo)
        elif gate_mode in gates:
            g = probe_probs(*gates[gate_mode], emb)[:, 0]
        elif gate_mode.startswith(("gate 9, C = ", "gate 9, share ", "gate 9, by library")):
            g = probe_probs(*gates["gate 9"], emb)[:, 0]
        elif gate_mode.startswith("hard"):
            g = (probe_probs(*gates[gate_mode.removeprefix("hard ")], emb)[:, 0] >= 0.5).astype(float)
        elif gate_mode == "oracle":
            y_ = d[f"{group}_y"]
            m_ = d["csound_mask"].astype(bool) if group == "csound" else np.ones_like(y_, bool)
            g = ((((y_ >= 0.5) & m_).sum(axis=1) == 1)[d[f"{group}_file"]]).astype(float)
        w = np.where(learned, shares.get(gate_mode, 0.5), 0.0)[None, :] * g[:, None]
        blend = (1 - w) * head + w * p
        f = d[f"{group}_file"]
        return np.stack([file_probability(blend[f == i], d[f"{group}_lengths"][f == i], rule,
                                          d[f"{group}_phases"][f == i]) for i in range(f.max() + 1)]), g

    modes = ("head", "ungated", "gate 8", "gate 9", "hard gate 9", "oracle", "solo gate 16") + \
        (("gate 13",) if args.degraded else ()) + tuple(f"gate 9, C = {c:g}" for c in args.c) + tuple(shares) + \
        (("gate 9, by library",) if args.by_library else ()) + (("gate 26",) if more else ()) + \
        (("gate 27", "gate 27p") if further else ())
    for group in ("csound", "realdev"):
        y = d[f"{group}_y"]
        mask = d["csound_mask"].astype(bool) if group == "csound" else np.ones_like(y, bool)
        single = ((y >= 0.5) & mask).sum(axis=1) == 1
        print(f"== {group}: {len(y)} files, {single.sum()} with one instrument")
        def fmt(v):
            return "-" if v is None else f"{v:.4f}"

        for mode in modes:
            probs, g = files(group, mode)
            r = score(probs, y, mask, classes, thr, trained)
            one = single[d[f"{group}_file"]]
            print(f"  {mode:11s} F1 {fmt(r['f1_macro_present'])} mAP {fmt(r['map'])} top-1 {fmt(r['top1'])} | "
                  f"gate mean: one instrument {g[one].mean() if one.any() else float('nan'):.2f}, "
                  f"several {g[~one].mean() if (~one).any() else float('nan'):.2f}")
    for mode in (m for m in modes if m != "oracle"):  # the oracle needs labels the signals do not have
        probs, g = files("signals", mode)
        said = ["+".join(c for c, p, t in zip(classes, row, trained) if t and p >= thr) or "-" for row in probs]
        print(f"  signals {mode:11s}: " + ", ".join(f"{n}: {s}" for n, s in zip(d["signals"], said)))
    for name, (gw, gb) in gates.items():
        print(f"{name} on the training recordings: mean {probe_probs(gw, gb, d['rec_emb'])[:, 0].mean():.2f}")


if __name__ == "__main__":
    main()
