"""The benchmarks' layout baseline: compact CNNs with channels-first convolution weights, as before 6f9cbec."""

import contextlib

import torch

from instrec.convnet import ConvAttentionClassifier


@contextlib.contextmanager
def channels_first_weights():
    """Every compact CNN built inside (trained or loaded) keeps channels-first convolution weights."""
    built = ConvAttentionClassifier.__init__

    def init(self, *args, **kwargs):
        built(self, *args, **kwargs)
        self.convs.to(memory_format=torch.contiguous_format)

    ConvAttentionClassifier.__init__ = init
    try:
        yield
    finally:
        ConvAttentionClassifier.__init__ = built
