"""The words beside the report's maps: a one-sentence caption in plain words and a colour key for
each (what blue, white and red, or black and white, mean there).

The maps' names and colours are explain/words.py's, the words the web page and `predict --explain`
show, so a learner meets one vocabulary in all three: "the digit minus the nearest ideal digit",
never explain.py's key `minus_nearest_mean`.
"""

from __future__ import annotations

import html

from digitlab.explain.words import colours, map_name

SIGNED = "linear-gradient(to right, #00f, #fff, #f00)"  # figures.signed_grid's "bwr" colours
GREY = "linear-gradient(to right, #000, #fff)"


def _key(ramp: str, words: str) -> str:
    return f'<p class="key"><span class="ramp" style="background:{ramp}"></span> Colour key: {words}</p>'


def signed_key(blue: str, red: str) -> str:
    """Blue to red through white, each picture scaled by its own strongest pixel."""
    return _key(SIGNED, f"<b>blue</b>: {html.escape(blue)}; <b>white</b>: no effect; <b>red</b>: {html.escape(red)};"
                        " the deeper the colour, the stronger (each picture on its own scale).")


def grey_key(black: str, white: str) -> str:
    return _key(GREY, f"<b>black</b>: {html.escape(black)}; <b>white</b>: {html.escape(white)}.")


EXAMPLES = ("A few of the training digits each model learns from, a row a class.",
            grey_key("the paper", "the pen's ink (MNIST's digits are stored white on black)"))
MEANS = ("Every training image of a class averaged pixel by pixel: the book's ideal digit, which pixel"
         " similarity compares a new digit with.",
         grey_key("no digit of the class has ink there", "where the class's digits most often have ink"))


def learned(method: str, ideals: int = 1) -> tuple[str, str]:
    """(caption, colour key) for the pictures of what a model of `method` learned."""
    if method == "pixel":
        if ideals == 1:
            return MEANS
        return ("Each row is one class's ideal digits, the averages of groups of alike training digits, the"
                " commonest group first: a new digit takes the class of the ideal it is nearest.",
                grey_key("no digit of the group has ink there", "where the group's digits most often have ink"))
    if method == "linear":
        return ("A digit's score is the sum of its weights under the ink, plus a bias, so the picture shows"
                " where ink counts for that digit and where it counts against it.",
                signed_key("ink here lowers that digit's score", "ink here raises it"))
    if method == "simple_net":
        return ("The hidden units whose outputs weigh most in the answers, each drawn as its 784 input weights:"
                " a unit switches on when ink falls on its red pixels more than on its blue ones.",
                signed_key(*colours("unit")))
    return ("The first layer's small filters, each slid over the whole digit: a filter responds where the"
            " ink under it matches its red pixels and avoids its blue ones.",
            signed_key("ink here lowers the filter's response", "ink here raises it"))


WHY = {
    "pixel": "For the test digits it got most wrong, the digit as the model saw it, what differs from the"
             " ideal digit it chose and from the runner-up's, and which pixels decided between the two.",
    "linear": "For the test digits it got most wrong, the digit as the model saw it and how much each pixel"
              " added to the wrong answer's score and to the runner-up's.",
    "simple_net": "For the test digits it got most wrong, the digit as the model saw it, how much each pixel"
                  " added to the wrong answer's score and to the runner-up's, and the hidden unit that"
                  " pushed hardest for the wrong answer.",
    "cnn": "For the test digits it got most wrong, the digit as the model saw it, each pixel's share in the"
           " wrong answer's score, and what the score lost when a patch was blacked out.",
}


def why_key(names: list[str]) -> str:
    """The colour key of an explanation's rows: the first picture in grey, then each map's blue and red."""
    columns = ["<li><b>the first picture</b>: the digit as the model saw it, white ink on black</li>"]
    for name in names:
        unit = name.startswith("unit_")  # a different unit on each row
        blue, red = colours(name)
        named = "the hidden unit that pushed hardest, its strongest inputs" if unit else map_name(name)
        columns.append(f"<li><b>{html.escape(named)}</b>: <b>blue</b>, {html.escape(blue)}; <b>red</b>,"
                       f" {html.escape(red)}</li>")
    return (f'<div class="key"><span class="ramp" style="background:{SIGNED}"></span> Colour key, picture by'
            f' picture (white: no difference; the deeper the colour, the stronger, each picture on its own'
            f' scale):<ul>{"".join(columns)}</ul></div>')
