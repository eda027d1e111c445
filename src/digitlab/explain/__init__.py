"""Why a model answered as it did: explanations.py (one answer's evidence, the pictures a model
learned), attribution.py (integrated gradients and occlusion)."""

from digitlab.explain.explanations import Explanation, explain, learned, save_pictures, to_json, warm_up

__all__ = ["Explanation", "explain", "learned", "save_pictures", "to_json", "warm_up"]
