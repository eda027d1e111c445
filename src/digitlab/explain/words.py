"""The words beside an explanation, for a reader who never opened the book: each map's name, a
one-sentence caption about this answer, what blue and red mean on it, and the scores said in words.

One vocabulary for the web page's "why?" (the server sends these words), `predict --explain`'s
captioned pictures and the report (report/captions.py): "the ideal 7", never explain's key
`minus_nearest_mean`. Templates take `{a}`, the answer, and `{r}`, the runner-up: a digit for one
answer ("7"), or "the answer" and "the runner-up" where one key serves many rows (the report).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from digitlab.explain.attribution import OCCLUSION_WINDOW

STRONGEST_INPUTS = 0.10  # share of a hidden unit's 784 weights drawn (the largest in size): all of them read as noise

# explain.explanations' map keys -> their names on the page, in the pictures and in the report
MAP_NAMES = {
    "minus_nearest_mean": "the digit minus the nearest ideal digit",
    "minus_runner_up_mean": "minus the runner-up's ideal",
    "evidence": "pixels that chose it over the runner-up",
    "contribution": "weight × pixel, for the answer",
    "runner_up_contribution": "weight × pixel, for the runner-up",
    "integrated_gradients": "integrated gradients",
    "occlusion": "the score lost when blacked out",
}

# What blue and red mean on each map (blue, red); "unit" is any hidden unit's picture.
COLOURS = {
    "minus_nearest_mean": ("ink {a}'s ideal has and this digit lacks", "ink this digit has and {a}'s ideal lacks"),
    "minus_runner_up_mean": ("ink {r}'s ideal has and this digit lacks", "ink this digit has and {r}'s ideal lacks"),
    "evidence": ("pixels that made it look more like {r}", "pixels that made it look more like {a}"),
    "contribution": ("lowered {a}'s score", "raised {a}'s score"),
    "runner_up_contribution": ("lowered {r}'s score", "raised {r}'s score"),
    "integrated_gradients": ("lowered {a}'s score", "raised {a}'s score"),
    "occlusion": ("{a}'s score rose when it was blacked out", "{a}'s score fell when it was blacked out"),
    "unit": ("ink here quiets the unit", "ink here excites the unit"),
}

# One sentence a map, about this answer; a (method, key) entry where a method's map means more.
CAPTIONS = {
    "minus_nearest_mean": "This digit minus the ideal {a} it is nearest to (the average of a group of alike"
                          " training {a}s): the less colour, the more alike the two are.",
    "minus_runner_up_mean": "This digit minus the nearest ideal {r}, the runner-up: it differs more than the"
                            " ideal {a} does, which is why the answer is {a}.",
    "evidence": "Which pixels decided between {a} and {r}: red pixels are nearer the ideal {a}, blue ones nearer"
                " the ideal {r}, and the red outweighs the blue.",
    "contribution": "Each pixel's share of {a}'s score, its ink times the weight the model gives that spot: the"
                    " shares and a bias add up to the score, {sa:.1f}.",
    ("simple_net", "contribution"): "Each pixel's share of {a}'s score, passed on through the hidden units this"
                                    " digit switches on: the shares and a bias add up to the score, {sa:.1f}.",
    "runner_up_contribution": "The same for the runner-up, {r}: its pixels' shares and bias add up to {sr:.1f},"
                              " less than {a}'s {sa:.1f}.",
    "integrated_gradients": "Each pixel's share of {a}'s score, found by fading the digit in from a black page"
                            " (integrated gradients): the shares add up to how much the score rose on the way.",
    "occlusion": f"How much {{a}}'s score fell when each {OCCLUSION_WINDOW} × {OCCLUSION_WINDOW} patch of the"
                 " digit was blacked out: the reddest patches are the ones the model needed most.",
    "unit": "Unit {u} raised {a}'s score {rank} of the net's {hidden} hidden units for this digit (by"
            " {share:.2f}): here are its {strongest} strongest weights, over this digit in grey.",
}
UNITS = ("A hidden unit adds up the ink on every pixel, each times its own weight, and passes the total on to"
         " the digits' scores when it is above zero: ink on its red pixels switches it on, ink on its blue ones off.")
ABOUT = {"minus_runner_up_mean": "{r}", "runner_up_contribution": "{r}", "evidence": "{a} against {r}"}  # else {a}
WHITE = "no effect (the deeper a colour, the stronger)"  # each map is scaled by its own strongest pixel
SEEN = "The digit as the model saw it: 28 × 28 pixels, white ink on black, as MNIST's digits are stored."
RANKS = ("the most", "the second most", "the third most", "the fourth most", "the fifth most", "the sixth most")


@dataclass(frozen=True)
class MapWords:
    """What a reader is told beside one map."""

    title: str  # its name, MAP_NAMES's, with the digits it is about
    caption: str  # one sentence about this answer
    blue: str  # what blue means on it
    red: str  # what red means on it
    grey: str = ""  # what grey means, where the map has grey (a hidden unit's picture: this digit)

    def key(self) -> list[str]:
        """The colour key, a colour a line: blue, white, red (and grey where the map has it)."""
        return [f"blue: {self.blue}", f"white: {WHITE}", f"red: {self.red}"] + ([f"grey: {self.grey}"] if self.grey else [])


def map_name(key: str) -> str:
    """The page's words for one of explain.explanations' maps (a hidden unit: "unit 152's strongest inputs")."""
    if key.startswith("unit_"):
        return f"unit {key.removeprefix('unit_')}'s strongest inputs"
    return MAP_NAMES.get(key, key.replace("_", " "))


def colours(key: str, answer: str = "the answer", runner_up: str = "the runner-up") -> tuple[str, str]:
    """What (blue, red) mean on a map: for one answer's digits, or any answer's."""
    blue, red = COLOURS["unit" if key.startswith("unit_") else key]
    return blue.format(a=answer, r=runner_up), red.format(a=answer, r=runner_up)


def for_map(e, key: str) -> MapWords:
    """The words beside explanation `e`'s map `key`."""
    a, r = str(e.label), str(e.runner_up)
    values = {"a": a, "r": r, "sa": _score(e, e.label), "sr": _score(e, e.runner_up)}
    title = map_name(key) + ("" if key.startswith("unit_") else f" ({ABOUT.get(key, '{a}').format(a=a, r=r)})")
    blue, red = colours(key, a, r)
    if key.startswith("unit_"):
        unit = int(key.removeprefix("unit_"))
        ranked = [u for u, _ in e.notes["units"]]
        rank = ranked.index(unit)
        values |= {"u": unit, "rank": RANKS[rank], "share": e.notes["units"][rank][1],
                   "hidden": e.notes["hidden_units"], "strongest": round(STRONGEST_INPUTS * e.maps[key].numel())}
        return MapWords(title, CAPTIONS["unit"].format(**values), blue, red,
                        "this digit's ink, where the unit's weights are weak")
    caption = CAPTIONS.get((e.method, key), CAPTIONS.get(key, ""))
    return MapWords(title, caption.format(**values), blue, red)


def _score(e, digit: int) -> float:
    return e.scores[e.classes.index(digit)]


def percent(p: float) -> str:
    """As the page's bars write it: 99.2%, and whole numbers near 0 and 100 (100%, 0%)."""
    return f"{100 * p:.{0 if p >= 0.995 or p < 0.005 else 1}f}%"


def scores(e, probabilities: dict[int, float] | None = None) -> str:
    """The answer's and the runner-up's scores in words, with their probabilities when given."""
    a, r = e.label, e.runner_up
    if e.method == "pixel":
        said = (f"Distance to each digit's nearest ideal (a typical pixel's difference, 0 to 1; the nearest wins):"
                f" {_score(e, a):.2f} to an ideal {a}, {_score(e, r):.2f} to an ideal {r}, the runner-up.")
    else:
        said = (f"How strongly the model leans to each digit, its score (the highest wins): {_score(e, a):.1f}"
                f" for {a}, {_score(e, r):.1f} for {r}, the runner-up.")
    if probabilities is None:
        return said
    return f"{said} As probabilities: {percent(probabilities[a])} for {a}, {percent(probabilities[r])} for {r}."


def to_json(e, probabilities: dict[int, float] | None = None) -> dict:
    """Every word the page shows beside explanation `e`: the scores, the digit seen, what a hidden unit is
    (where units are shown), each map's words."""
    units = any(key.startswith("unit_") for key in e.maps)
    return {"scores": scores(e, probabilities), "seen": SEEN, **({"units": UNITS} if units else {}),
            "maps": {key: _as_json(for_map(e, key)) for key in e.maps}}


def _as_json(said: MapWords) -> dict:
    return {**asdict(said), "key": said.key()}
