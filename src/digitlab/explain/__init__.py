"""Why a model answered as it did: explanations.py (one answer's evidence, the pictures a model
learned), attribution.py (integrated gradients and occlusion), words.py (the words beside them:
names, captions, colour keys, the scores), pictures.py (the maps drawn, captioned for --explain)."""

from digitlab.explain.explanations import Explanation, explain, learned, to_json, warm_up
from digitlab.explain.pictures import save_pictures

__all__ = ["Explanation", "explain", "learned", "save_pictures", "to_json", "warm_up"]
