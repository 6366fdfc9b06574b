"""instrec: music instrument recognition with learned representations.

Implements Taenzer, Mimilakis & Abesser, "Deep Learning-Based Music Instrument
Recognition: Exploring Learned Feature Representations" (CMMR 2021).
Importing the package does no work: no downloads, no seeding, no file access.
"""

__version__ = "0.1.0"
