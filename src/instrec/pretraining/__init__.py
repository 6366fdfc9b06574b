"""Stage-1 pre-training of VGGish with the paper's objectives (section 4.1): textual description,
denoising (additive, multiplicative) and audio-tag alignment."""

OBJECTIVES = ("textual", "denoise-additive", "denoise-multiplicative", "align")
