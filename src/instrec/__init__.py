"""instrec: music instrument recognition with learned representations.

Implements Taenzer, Mimilakis & Abesser, "Deep Learning-Based Music Instrument
Recognition: Exploring Learned Feature Representations" (CMMR 2021).
Importing the package does no work: no downloads, no seeding, no file access.
"""

__version__ = "0.1.0"


def load_model(model=None, threshold=None):
    """A trained instrument recogniser: a run folder, a study folder, or the latest study's best model.

    ``load_model(...).predict("song.mp3")`` returns probabilities, decisions and the activity timeline.
    """
    from instrec.predict import load_model as _load

    return _load(model, threshold)
