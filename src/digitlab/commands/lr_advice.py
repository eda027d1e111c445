"""After `digitlab train` diverges: a learning rate that trains, found by short checks, not guessed.

Dividing the diverged lr by ten was a guess: `train linear --lr 1e6` suggested 100000, which trained
to 81.65 % on 3 vs 7 with every probability pinned (temperature 20, the calibration's limit), where
the default lr of 1 gives 97 %. So each candidate (the method's own default first, when it is lower,
then tenths below) is trained briefly, through the same classifier and loop, on CHECK_IMAGES of the
task's training digits and scored on CHECK_SCORED others (never its test digits), and the first
that neither diverges nor stays near chance is suggested, with what the check measured.
"""

from __future__ import annotations

# A check at each method's default lr, on 2 CPU cores: 3 vs 7, linear 97.7 %, simple_net 97.4 %, cnn
# 98.9 %; ten digits 78.0 %, 77.7 %, 97.9 %; 1-3.4 s each. One epoch on 2,000 digits was too short to
# tell: the cnn stayed at chance (50.2 % on 3 vs 7) at its own default.
CHECK_IMAGES = 6000  # training digits a check trains on, drawn with a fixed seed
CHECK_SCORED = 1000  # other training digits, on which the check is scored
CHECK_EPOCHS = 2  # the cnn's one-cycle reaches its peak lr within them, where divergence shows
TRIES = 4  # candidates checked at most
DOWN = 10  # each candidate below the last by this factor
LEARNS = 0.5  # share of the way from chance to 100 % a check must reach: 3 vs 7, 75 %; ten digits, 55 %


def candidates(lr: float, default: float) -> list[float]:
    """The lrs to check, best guess first: the method's default when it is below `lr`, then tenths below."""
    first = [default] if default < lr else []
    below = min(lr, default)
    return (first + [below / DOWN**k for k in range(1, TRIES + 1)])[:TRIES]


def check(method: str, config, lr: float, task, device) -> float | None:
    """The accuracy a short run at `lr` reaches (CHECK_IMAGES digits, CHECK_EPOCHS), None if it diverges."""
    import dataclasses

    import torch

    from digitlab import service
    from digitlab.errors import TrainingError

    settings = {**dataclasses.asdict(config), "lr": lr, "epochs": CHECK_EPOCHS}
    clf = service.make(method, **settings)
    # A seeded draw: a task's training digits come sorted by label (all the 3s, then the 7s).
    order = torch.randperm(len(task.train_labels), generator=torch.Generator().manual_seed(0))
    held = min(CHECK_SCORED, len(order) // 4)  # a small task (mnist_tiny: 709 digits) keeps a quarter to score
    train, scored = order[: min(CHECK_IMAGES, len(order) - held)], order[len(order) - held :]
    try:
        clf.fit(task.train_images[train], task.train_labels[train], device=device, progress=False)
    except TrainingError:
        return None
    return clf.score(task.train_images[scored], task.train_labels[scored])


def default_lr(method: str, config) -> float:
    """The lr the method trains with when --lr is not given (the cnn's: its recipe's)."""
    from digitlab import service

    preset = getattr(config, "preset", None)
    options = {"preset": preset} if preset is not None else {}
    return service.make(method, **options, **service.device_option(method, getattr(config, "device", None))).config.lr


def suggestion(method: str, config, task, device) -> str:
    """Words to add to a divergence's message: an lr that trained in a short check, and how well."""
    chance = 1 / len(task.classes)
    for lr in candidates(config.lr, default_lr(method, config)):
        accuracy = check(method, config, lr, task, device)
        if accuracy is not None and accuracy >= chance + LEARNS * (1 - chance):
            return f"--lr {lr:g} trains (a short check: {CHECK_EPOCHS} epochs, {accuracy:.1%} right on other training digits)"
    return f"no lr from {config.lr / DOWN:g} down to {config.lr / DOWN**TRIES:g} trained in a short check; try the defaults"
