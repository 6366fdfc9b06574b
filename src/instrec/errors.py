"""User-facing errors: one line that names the file and says what to do."""


class InstrecError(Exception):
    """An error caused by the user's input; the CLI prints it on one line and exits with 2."""


class AudioError(InstrecError):
    """An audio file that cannot be used (missing, empty, corrupt, NaN samples)."""


class MissingWeightsError(InstrecError):
    """Released weights (AudioSet VGGish, PCA) that are not in the cache and were not given."""
