"""The real-recording stage: a trained model's networks go on learning from real players and from sounds that
are no instrument.

Training material, all computed here and cached in the output folder (``clips-*.npz``):

- **real clips** (``datasets/synth/parts.py``): parts played from the real recordings of ``instrec recordings``
  (notes in time, chords, strums, drum patterns; sung and spoken phrases), solo, duo and band, through the
  recording chain, every class labelled;
- **overlays**: clips of a rendered OpenMIC-style dataset (the recipe's SoundFont banks) with one real part
  added, their labels joined (the part's class present; a class the banks could not play stays as it was);
- **rendered clips** of that dataset as they are, so the classes without real recordings keep what they learnt;
- **negatives** (``datasets/synth/negatives.py``): tones, sweeps, two-tone signalling, hum, noise, applause, every
  class labelled absent; and real music with one of them added.

Each member of the model (one network, or each of an ensemble's) is trained further on these clips from its
weights (Adam, random runs of ``crop`` 0.96 s examples, as the recipe), keeping the model's normalisation
statistics; the result is exported like the shipped model. The level of every clip is set as ``predict`` sets a
file's (input level ``fixed``), so the network hears training clips exactly as it will hear recordings.

Source folds (``FOLDS``): each library of real recordings sits in one fold; ``run_folds`` trains without each
fold in turn and scores its recordings as files through ``predict``, beside the model it started from.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from instrec import params as P
from instrec.errors import InstrecError
from instrec.io import atomic_path, atomic_write_json

CLIP_EXAMPLES = 10
# every library of the shipped manifest in one fold; a class with several libraries has them in several folds
FOLDS: dict[str, tuple[str, ...]] = {
    "A": ("sfzinstruments.BengtNilsson.HeadroomPiano", "sfzinstruments.karoryfer.growlybass",
          "sfzinstruments.karoryfer.swagbass", "sfzinstruments.karoryfer.272-merry-orks",
          "sfzinstruments.karoryfer.shinyguitar", "sfzinstruments.karoryfer.gogodze-phu-vol-ii",
          "francoiswnel.Ukulele", "sfzinstruments.karoryfer.bear-sax", "debian.klettres-data.nl",
          "debian.klettres-data.ru", "debian.klettres-data.lt", "debian.grandorgue-demo.flue",
          "debian.ktuberling-data.group1"),
    "B": ("sfzinstruments.SplendidGrandPiano", "sfzinstruments.karoryfer.meatbass",
          "sfzinstruments.karoryfer.sneakybass", "wcgbg.solfege-samples", "sfzinstruments.karoryfer.emilyguitar",
          "sfzinstruments.DrumGizmo.MuldjordKit", "sfzinstruments.ganjo", "sfzinstruments.karoryfer.caveman-cosmonaut",
          "debian.klettres-data.pt_BR", "debian.klettres-data.uk", "debian.klettres-data.nb",
          "debian.ktuberling-data.group2"),
    "C": ("sfzinstruments.GregSullivan.E-Pianos", "sfzinstruments.karoryfer.string-cyborgs", "floe-audio.Xylophone",
          "freepats.button-accordion-HN", "debian.klettres-data.ml", "debian.klettres-data.nds",
          "debian.klettres-data.tn", "debian.grandorgue-demo.gamba-reed", "debian.ktuberling-data.group3"),
}

# recordings never used for training: the test fixtures (tests/fixtures/real-heldout/) that check the shipped model
# on ukulele, banjo and speech it did not hear
FIXTURE_FILES = frozenset({
    "francoiswnel.Ukulele/Ukulele/Samples/1-Bb4.flac", "francoiswnel.Ukulele/Ukulele/Samples/2-Bb4.flac",
    "francoiswnel.Ukulele/Ukulele/Samples/3-C5.flac", "francoiswnel.Ukulele/Ukulele/Samples/4-B5.flac",
    "sfzinstruments.ganjo/Common/Banjo_Common - A#4_4.wav", "sfzinstruments.ganjo/Common/Banjo_Common - B4_3.wav",
    "sfzinstruments.ganjo/Common/Banjo_Common - F#3.wav", "sfzinstruments.ganjo/Common/Banjo_Common - G#4_3.wav",
    "debian.klettres-data.tn/alpha/n.ogg", "debian.klettres-data.tn/syllab/fu.ogg",
    "debian.klettres-data.tn/syllab/la.ogg", "debian.klettres-data.tn/syllab/ro.ogg",
})


@dataclass(frozen=True)
class Stage:
    real_clips: int = 2500
    overlay_clips: int = 1000
    rendered_clips: int = 2500
    negative_clips: int = 300
    negative_overlays: int = 200  # real clips with a negative sound added (labels: the music's)
    epochs: int = 3
    lr: float = 1e-4
    batch_size: int = 32
    crop_examples: int = 3
    seed: int = 0
    hold_out: tuple[str, ...] = ()  # libraries left out of training (a source fold)
    members: tuple[int, ...] = ()  # which members of an ensemble to train and keep (default: all)
    device: str = "cpu"  # where the networks train (how, not what: not part of any cache key)
    train: str = "all"  # all: every layer; head: the attention head only (the encoder and its batch norm frozen)
    shift: bool = False  # crops start at any 10 ms frame, not only at a 0.96 s example's first (training.crop_batch)
    recording_files: int = 0  # per library, up to this many of its recordings as clips as they are (recording_clips)
    note_bank: str = ""  # and up to as many recorded notes of each instrument of this sample-set bank (tonejs)
    more_note_banks: tuple[str, ...] = ()  # and of each of these sets of notes (freepats), after note_bank's
    # instruments no recording reaches, played from a physical model as parts beside the real libraries' (mandolin:
    # datasets/synth/mandolin.py); in every fold's training, as they are no library
    modelled: tuple[str, ...] = ()
    # and this many solo clips of the modelled instruments alone, after every other clip (a class the base networks
    # learned wrong from the banks needs more than its share of the parts: a synthesizer they call accordion)
    modelled_solos: int = 0


def _settings(stage: Stage) -> dict:
    """The stage's settings as a dict; ``modelled``, ``modelled_solos`` and ``more_note_banks`` only where set, so
    the caches of stages without them keep their names."""
    settings = asdict(stage)
    for name in ("modelled", "modelled_solos", "more_note_banks"):
        if not settings[name]:
            del settings[name]
    return settings


def clip_logmel(audio: np.ndarray) -> np.ndarray:
    """A clip at 16 kHz as ``predict`` hears it (peak at the input level ``fixed``), as (10 x 96, 64) log-mel."""
    from instrec.frontend import LogMelExamples
    from instrec.predict import level_gain

    audio = np.asarray(audio, np.float32)[: CLIP_EXAMPLES * P.EXAMPLE_FRAMES * P.STFT_HOP_SAMPLES + P.SAMPLE_RATE]
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 0:
        audio = audio * np.float32(level_gain(peak, "fixed"))
    with torch.inference_mode():
        examples = LogMelExamples()(torch.from_numpy(audio)).numpy()
    if len(examples) < CLIP_EXAMPLES:
        pad = np.full((CLIP_EXAMPLES - len(examples), *examples.shape[1:]), np.log(P.LOG_OFFSET), np.float32)
        examples = np.concatenate([examples, pad])
    return examples[:CLIP_EXAMPLES].reshape(-1, examples.shape[-1]).astype(np.float32)


def training_recordings(root: Path | None, hold_out: tuple[str, ...]) -> list:
    """(manifest row, path) of the real recordings training may use: those found in ``root`` (default: the
    ``instrec recordings`` cache), minus the libraries ``hold_out`` and the test fixtures."""
    from instrec.datasets import recordings

    rows = [r for r in recordings.read_manifest() if r.library not in hold_out and r.path not in FIXTURE_FILES]
    return recordings.located(rows, root)


def training_sources(root: Path | None, hold_out: tuple[str, ...]):
    """The real recordings training may use (:func:`training_recordings`) as parts.Source."""
    from instrec.datasets import recordings
    from instrec.datasets.synth.parts import build_sources

    found = training_recordings(root, hold_out)
    if not found:
        raise InstrecError(f"{root or recordings.recordings_dir()}: no real recordings there; run `instrec recordings "
                           "fetch` first")
    return build_sources([(path, r.label, r.library, r.kind, r.source) for r, path in found])


def _rendered_audio(dataset: Path, key: str) -> np.ndarray:
    from instrec.audio import load_audio

    return load_audio(dataset / "audio" / key[:3] / f"{key}.ogg")


def build_clips(out: Path, stage: Stage, classes: list[str], dataset: Path, recordings_root: Path | None) -> dict:
    """The stage's training clips (cached at ``out/clips-<hash>.npz``): normalised log-mel x (N, 960, 64) float16,
    labels y (N, C), mask (N, C), and the metadata of each clip."""
    from instrec.datasets.openmic import OpenMIC
    from instrec.datasets.synth import negatives
    from instrec.datasets.synth.parts import draw_source, mix_parts, play_part, real_clip
    from instrec.datasets.synth.recording import apply_chain, draw_chain
    from instrec.io import load_npz

    recipe = {k: v for k, v in _settings(stage).items() if k not in ("epochs", "lr", "batch_size", "crop_examples",
                                                                   "members", "device", "train", "shift",
                                                                   "recording_files", "note_bank")}
    recipe["dataset"] = str(dataset)
    tag = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]
    path = out / f"clips-{tag}.npz"
    if path.exists():
        return {**load_npz(path), "meta": json.loads((out / f"clips-{tag}.json").read_text())}
    if stage.modelled_solos and not stage.modelled:
        raise InstrecError("modelled solos need modelled instruments: set modelled (e.g. synthesizer)")
    rng = np.random.default_rng(stage.seed)
    sources = training_sources(recordings_root, stage.hold_out)
    if stage.modelled:
        from instrec.datasets.synth.modelled import modelled_sources

        sources += modelled_sources(stage.modelled, stage.seed)
    openmic = OpenMIC(dataset)
    train = openmic.split("train")
    out.mkdir(parents=True, exist_ok=True)  # the inputs are there: work starts
    keys = list(train.keys)
    order = rng.permutation(len(keys))
    xs, ys, masks, meta = [], [], [], []
    full = np.ones(len(classes), bool)

    def add(audio, labels, mask, about):
        xs.append(clip_logmel(audio).astype(np.float16))
        ys.append(labels)
        masks.append(mask)
        meta.append(about)

    from tqdm import tqdm

    progress = tqdm(total=stage.real_clips + stage.overlay_clips + stage.rendered_clips + stage.negative_clips
                    + stage.negative_overlays + stage.modelled_solos, desc="stage clips", unit="clip", leave=False)
    for _ in range(stage.real_clips):
        audio, labels, about = real_clip(sources, rng, classes)
        add(audio, labels, full, {"type": "real", **about})
        progress.update()
    by_label = sorted({s.label for s in sources})
    for n in range(stage.overlay_clips + stage.rendered_clips):
        i = int(order[n % len(order)])
        audio = _rendered_audio(dataset, keys[i])[: 10 * P.SAMPLE_RATE]
        labels, mask = train.labels[i].astype(np.float32).copy(), train.y_mask[i].copy()
        about = {"type": "rendered", "key": keys[i]}
        if n < stage.overlay_clips:
            label = by_label[int(rng.integers(len(by_label)))]
            source = draw_source([s for s in sources if s.label == label], rng)
            part, part_about = play_part(source, rng, audio.size / P.SAMPLE_RATE)
            mixed, levels = mix_parts([audio, part[: audio.size]], rng)
            params = draw_chain(rng, room_probability=0.3, noise_probability=0.2, codec_probability=0.1)
            audio = apply_chain(mixed, P.SAMPLE_RATE, params)
            k = classes.index(label)
            labels[k], mask[k] = 1.0, True
            about = {"type": "overlay", "key": keys[i], "part": {**part_about, "level_db": round(levels[1], 2)},
                     "chain": params}
        add(audio, labels, mask, about)
        progress.update()
    for n in range(stage.negative_clips + stage.negative_overlays):
        kind = negatives.KINDS[n % len(negatives.KINDS)]
        sound, params = negatives.negative(kind, rng)
        if n < stage.negative_clips:
            chain = draw_chain(rng, room_probability=0.3, noise_probability=0.3)
            add(apply_chain(sound * 0.5, P.SAMPLE_RATE, chain), np.zeros(len(classes), np.float32), full,
                {"type": "negative", **params, "chain": chain})
        else:
            music, labels, about = real_clip(sources, rng, classes, arrangement="solo")
            mixed, levels = mix_parts([music, sound[: music.size]], rng)
            add(mixed, labels, full, {"type": "negative-overlay", "negative": params, **about})
        progress.update()
    for _ in range(stage.modelled_solos):  # last, so that every clip before is the stage's without them
        audio, labels, about = real_clip([s for s in sources if s.label in stage.modelled], rng, classes,
                                         arrangement="solo")
        add(audio, labels, full, {"type": "modelled-solo", **about})
        progress.update()
    progress.close()
    data = {"x": np.stack(xs), "y": np.stack(ys).astype(np.float32), "mask": np.stack(masks)}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **data)
    atomic_write_json(out / f"clips-{tag}.json", meta)
    return {**data, "meta": meta}


def recording_clips(out: Path, stage: Stage, classes: list[str], recordings_root: Path | None) -> dict | None:
    """The training libraries' recordings themselves as clips (cached at ``out/recordings-<hash>.npz``): up to
    ``stage.recording_files`` files of each library (drawn at random; the test fixtures never), each its first 10 s
    from a random point of a longer file, through the recording chain as the overlays; labels: its class alone,
    every class marked. With ``stage.note_bank``, as many of the bank's recorded notes of each class
    (:func:`bank_notes`), each from its start, and as many of each bank of ``stage.more_note_banks`` after them.
    None when ``recording_files`` is 0."""
    from instrec.audio import load_audio, resample
    from instrec.datasets.synth.recording import apply_chain, draw_chain
    from instrec.io import load_npz

    if not stage.recording_files:
        return None
    key = {"recording_files": stage.recording_files, "seed": stage.seed, "hold_out": list(stage.hold_out),
           "root": str(recordings_root), **({"note_bank": stage.note_bank} if stage.note_bank else {}),
           **({"more_note_banks": list(stage.more_note_banks)} if stage.more_note_banks else {})}
    tag = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    path = out / f"recordings-{tag}.npz"
    if path.exists():
        return {**load_npz(path), "meta": json.loads((out / f"recordings-{tag}.json").read_text())}
    rng = np.random.default_rng([stage.seed, 11])
    by_library: dict[str, list] = {}
    for r, file in training_recordings(recordings_root, stage.hold_out):
        by_library.setdefault(r.library, []).append((r, file))
    xs, ys, meta = [], [], []
    samples = CLIP_EXAMPLES * P.EXAMPLE_FRAMES * P.STFT_HOP_SAMPLES  # 10 s

    def add(audio: np.ndarray, label: str, about: dict) -> None:  # through the chain, labelled with its class alone
        params = draw_chain(rng, room_probability=0.3, noise_probability=0.2, codec_probability=0.1)
        xs.append(clip_logmel(apply_chain(audio, P.SAMPLE_RATE, params)).astype(np.float16))
        ys.append(np.array([c == label for c in classes], np.float32))
        meta.append({**about, "chain": params})

    for library in sorted(by_library):
        files = by_library[library]
        for i in sorted(rng.permutation(len(files))[:stage.recording_files]):
            r, file = files[i]
            audio = load_audio(file)
            start = int(rng.integers(0, audio.size - samples + 1)) if audio.size > samples else 0
            add(audio[start:start + samples], r.label, {"type": "recording", "library": library, "path": r.path,
                                                        "start": start})
    for bank in ((stage.note_bank,) if stage.note_bank else ()) + tuple(stage.more_note_banks):
        by_instrument: dict[str, list] = {}
        for i, (note, rate, label) in enumerate(bank_notes(bank)):
            by_instrument.setdefault(label, []).append((i, note, rate))
        for label in sorted(by_instrument):
            notes = by_instrument[label]
            for j in sorted(rng.permutation(len(notes))[:stage.recording_files]):
                i, note, rate = notes[j]
                add(resample(note, rate)[:samples], label, {"type": "note", "bank": bank, "note": i, "class": label})
    if not xs:
        return None
    data = {"x": np.stack(xs), "y": np.stack(ys), "mask": np.ones((len(xs), len(classes)), bool)}
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **data)
    atomic_write_json(out / f"recordings-{tag}.json", meta)
    return {**data, "meta": meta}


def bank_notes(bank: str = "tonejs") -> list[tuple[np.ndarray, int, str]]:
    """Every recorded note of a sample-set bank (``soundfonts.NOTE_SETS``: real single notes, as the recipe
    plays them) as (mono float32 samples, rate, class): each preset's class is that of its General MIDI program
    (``classes.GM_PROGRAMS``); a preset of no class is left out. A General MIDI SoundFont
    (``soundfonts.PLAYED_NOTE_SETS``) gives its notes as :func:`played_notes` plays them."""
    from instrec.datasets.classes import GM_PROGRAMS
    from instrec.datasets.synth.samplebank import read_sf2
    from instrec.datasets.synth.soundfonts import BANKS, NOTE_SETS, PLAYED_NOTE_SETS, locate, note_sets

    if bank not in BANKS or BANKS[bank].kind not in NOTE_SETS + PLAYED_NOTE_SETS:
        raise InstrecError(f"recorded notes {bank!r}: not a sample set (use one of: {note_sets(played=True)})")
    path = locate(bank)
    if path is None:
        raise InstrecError(f"bank {bank!r} is not fetched; run: instrec soundfonts fetch {bank}")
    if BANKS[bank].kind in PLAYED_NOTE_SETS:
        return played_notes(path)
    of_program = {program: name for name, programs in GM_PROGRAMS.items() for program in programs}
    return [(zone.samples.astype(np.float32) / 32768.0, zone.sample_rate, of_program[preset.program])
            for preset in read_sf2(path) if preset.bank == 0 and preset.program in of_program
            for zone in preset.zones]


# the programs played as notes: classes.GM_PROGRAMS, and General MIDI's electric pianos (4, 5) as piano, as the
# real libraries label them (no class of GM_PROGRAMS holds them, so the banks' renderings never play them)
PLAYED_PROGRAMS: dict[str, tuple[int, ...]] = {"piano": (4, 5)}
PLAYED_KEYS = 4  # notes per program, spread evenly over the class's pitch range (classes.PITCH_RANGES)
PLAYED_HOLD_S, PLAYED_TAIL_S, PLAYED_RATE = 2.0, 0.5, 22050
PLAYED_MIN_PEAK = 0.01  # -40 dBFS: a key a preset barely sounds (out of its samples' range) is left out


def played_notes(soundfont: str | Path) -> list[tuple[np.ndarray, int, str]]:
    """The notes of a General MIDI SoundFont as (mono float32 samples, rate, class): every program of
    ``classes.GM_PROGRAMS`` and ``PLAYED_PROGRAMS`` the SoundFont has, played at ``PLAYED_KEYS`` keys spread over the
    class's pitch range, velocity 100, held ``PLAYED_HOLD_S`` s and released for ``PLAYED_TAIL_S`` s; a note whose
    peak is below ``PLAYED_MIN_PEAK`` is left out."""
    from instrec.datasets.classes import GM_PROGRAMS, PITCH_RANGES
    from instrec.datasets.synth.render import Note, Part, Renderer

    renderer = Renderer([soundfont], sample_rate=PLAYED_RATE)
    notes = []
    for name, programs in GM_PROGRAMS.items():
        low, high = PITCH_RANGES.get(name, (0, 0))
        for program in programs + PLAYED_PROGRAMS.get(name, ()):
            if not renderer.has_program(0, program):
                continue
            for key in np.round(np.linspace(low, high, PLAYED_KEYS)).astype(int):
                samples = renderer.render([Part(0, 0, program)], [Note(0.0, PLAYED_HOLD_S, 0, int(key), 100)],
                                          PLAYED_HOLD_S + PLAYED_TAIL_S)
                if np.abs(samples).max() >= PLAYED_MIN_PEAK:
                    notes.append((samples.astype(np.float32), PLAYED_RATE, name))
    return notes


def _normalise(x: np.ndarray, stats: dict) -> np.ndarray:
    from instrec.representations.postprocess import normalize_min_max

    return normalize_min_max(x.astype(np.float32), stats)


def train_member(member: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, stage: Stage,
                 seed: int, log=None) -> torch.nn.Module:
    """``member`` trained further on normalised clips ``x`` (N, 960, 64) for ``stage.epochs`` epochs."""
    from instrec.training import crop_batch

    device = torch.device(stage.device)
    member = copy.deepcopy(member).to(device).train()
    params = list(member.parameters())
    if stage.train == "head":  # the encoder stays as it is, batch-norm statistics included
        for part in (member.convs, member.project):
            part.eval()
            for p in part.parameters():
                p.requires_grad_(False)
        params = list(member.head.parameters())
    optimizer = torch.optim.Adam(params, lr=stage.lr)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(stage.epochs):
        order = torch.randperm(len(x), generator=generator)
        total, batches = 0.0, 0
        for start in range(0, len(order), stage.batch_size):
            idx = order[start:start + stage.batch_size]
            inputs = crop_batch(x[idx].float(), stage.crop_examples, P.EXAMPLE_FRAMES, generator,
                                shift=stage.shift).to(device)
            loss = member(inputs, y[idx].to(device), mask[idx].to(device))["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            batches += 1
        if log:
            log(f"epoch {epoch + 1}/{stage.epochs}: loss {total / max(1, batches):.4f}")
    return member.cpu().eval()


def member_key(stage: Stage, base_sha256: str | None, dataset: str | Path, recordings_root: Path | None) -> str:
    """What names a trained member's cache file: a hash of everything that decides its training (the stage's
    settings but where it runs and which members, the base's weights, the dataset, the recordings' folder)."""
    decides = {**{k: v for k, v in _settings(stage).items() if k not in ("device", "members")},
               "base": base_sha256, "dataset": str(dataset), "recordings": str(recordings_root)}
    return hashlib.sha256(json.dumps(decides, sort_keys=True).encode()).hexdigest()[:10]


def run_stage(base: str | Path | None, work: str | Path, stage: Stage, dataset: str | Path,
              recordings_root: str | Path | None = None, threshold: float | None = None, out: str | Path | None = None,
              about: dict | None = None) -> Path:
    """Train ``base`` (an exported model; default the shipped one) further on the stage's clips and export it to
    ``out`` (default ``work/model``), with ``about`` in its model.json. Cached in ``work``: the clips, and each
    trained member (``member-<i>-<key>.pt``, the key a hash of everything that decides its training: the stage's
    settings, the base's weights, the dataset and the recordings' folder, so a changed recipe never reuses a
    member trained by another)."""
    from instrec.bundle import export_model, load_exported
    from instrec.convnet import Ensemble, without_probe
    from instrec.predict import SHIPPED

    work = Path(work)
    torch.manual_seed(stage.seed)
    classifier, bundle = load_exported(base or SHIPPED)
    classes = list(bundle["classes"])
    root = Path(recordings_root) if recordings_root else None
    clips = build_clips(work, stage, classes, Path(dataset), root)
    files = recording_clips(work, stage, classes, root)
    if files is not None:  # the recordings as they are, after the stage's own clips
        clips = {k: np.concatenate([clips[k], files[k]]) for k in ("x", "y", "mask")} | {
            "meta": clips["meta"] + files["meta"]}
    x = torch.from_numpy(_normalise(clips["x"], bundle["norm_stats"]).astype(np.float16))
    y, mask = torch.from_numpy(clips["y"]), torch.from_numpy(clips["mask"])
    # the stage trains the networks; a probe fitted to their old embeddings goes (train-default fits a new one)
    classifier = without_probe(classifier)
    members = list(classifier.members) if isinstance(classifier, Ensemble) else [classifier]
    key = member_key(stage, bundle.get("sha256"), dataset, root)
    chosen = list(stage.members) or list(range(len(members)))
    trained = []
    for i in chosen:
        saved = work / f"member-{i}-{key}.pt"
        if saved.exists():
            net = copy.deepcopy(members[i])
            net.load_state_dict(torch.load(saved, weights_only=True))
        else:
            print(f"{work}: training member {i} on {len(x)} clips", file=sys.stderr)
            net = train_member(members[i], x, y, mask, stage, stage.seed + i,
                               log=lambda m: print(f"  member {i}: {m}", file=sys.stderr))
            with atomic_path(saved) as tmp:
                torch.save(net.state_dict(), tmp)
        trained.append(net.eval())
    if len(trained) > 1:
        model = Ensemble([m.args for m in trained])
        for target, net in zip(model.members, trained):
            target.load_state_dict(net.state_dict())
    else:
        model = trained[0]
    heard = (clips["mask"] & (clips["y"] >= 0.5)).any(axis=0)  # a class some clip labels present
    card = {**bundle, "trained_classes": [bool(a or b) for a, b in zip(bundle["trained_classes"], heard)]}
    if threshold is not None:
        card["config"] = {**card["config"], "threshold": threshold}
    stage_record = {k: v for k, v in _settings(stage).items() if k != "device"}
    recorded = {"input_level": bundle.get("input_level", "none"), "command": "instrec train-real",
                **(about or {}),
                "base": {k: bundle.get(k) for k in ("sha256", "command", "recipe", "best_val_f1_macro")},
                "real_stage": {**stage_record, "clips": len(x),
                               "clip_types": {t: sum(1 for m in clips["meta"] if m["type"] == t)
                                              for t in sorted({m["type"] for m in clips["meta"]})}}}
    return export_model(model.eval(), card, Path(out) if out else work / "model", recorded)


def fold_recordings(fold: str, root: Path | None = None):
    """(path, label) of every recording of the libraries of ``fold`` that is in ``root`` (default: the cache)."""
    from instrec.datasets import recordings

    rows = [r for r in recordings.read_manifest() if r.library in FOLDS[fold]]
    return [(path, r.label) for r, path in recordings.located(rows, root)]


def score_files(model, items: list[tuple[Path, str]]) -> dict:
    """Score a predict.Model on single-instrument files ``items`` (path, class): evaluation.score's report."""
    from instrec.evaluation import score

    predictions = [model.predict(path) for path, _ in items]
    probs = np.stack([p.probs for p in predictions])
    labels = np.array([[c == label for c in model.classes] for _, label in items], np.float32)
    result = score(probs, labels, np.ones_like(labels, bool), model.classes, model.threshold, model.trained,
                   np.stack([p.present for p in predictions]))
    result["probs"] = probs
    return result
