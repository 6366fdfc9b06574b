from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def interrupt_after():
    """A training ``after_epoch`` callback that stops the run (as a Ctrl-C would) once ``epochs`` are done."""
    def make(epochs: int):
        def after_epoch(done: int) -> None:
            if done == epochs:
                raise KeyboardInterrupt
        return after_epoch
    return make
