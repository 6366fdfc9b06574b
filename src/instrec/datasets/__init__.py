"""Dataset loaders for the real on-disk formats (OpenMIC-2018, NSynth, Freesound) and the SoundFont renderer."""
