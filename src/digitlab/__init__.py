"""digitlab: handwritten-digit classification from scratch, after fastai's chapter 4.

Importing the package is cheap (no torch); each module imports what it needs.
"""

__version__ = "0.1.0"
