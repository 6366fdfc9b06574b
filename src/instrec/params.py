"""The VGGish constants (tensorflow/models research/audioset/vggish/vggish_params.py): one source of truth."""

SAMPLE_RATE = 16000
STFT_WINDOW_SAMPLES = 400  # 25 ms
STFT_HOP_SAMPLES = 160  # 10 ms
FFT_LENGTH = 512  # next power of two above the window
NUM_MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s
EXAMPLE_HOP_FRAMES = 96
EXAMPLE_SECONDS = EXAMPLE_FRAMES * STFT_HOP_SAMPLES / SAMPLE_RATE
# the fewest samples that give one full example: 400 + 95 * 160
MIN_EXAMPLE_SAMPLES = STFT_WINDOW_SAMPLES + (EXAMPLE_FRAMES - 1) * STFT_HOP_SAMPLES
EMBEDDING_SIZE = 128
QUANTIZE_MIN = -2.0
QUANTIZE_MAX = 2.0
