"""The `compare` job's report: one self-contained HTML page with its pictures embedded as PNG
(document.py: the page, its sections and tables; figures.py: the pictures; confusion.py: the
confusion matrices, as tables; captions.py: the words and colour keys beside the maps).

Nothing is fetched when the page opens (no scripts, fonts or style sheets from elsewhere), so it can be
mailed, archived, or opened from disk on a machine with no network. Pictures are drawn with
matplotlib's Agg renderer on `Figure` objects directly, never through pyplot's global state.
"""
