"""seeding.py: one seed makes every draw of a run, epoch by epoch, the same on a resume."""

import torch

from digitlab.store.spec import MAX_SEED
from digitlab.train import seeding
from digitlab.train.learner import DataLoader


def _draws(generator: torch.Generator) -> list[int]:
    return torch.randint(0, 1 << 30, (4,), generator=generator).tolist()


def test_each_stream_differs_by_seed_and_epoch_and_repeats():
    for make in (seeding.epoch_generator, seeding.recipe_generator):
        draws = {(s, e): _draws(make(s, e)) for s in (0, 1) for e in (0, 1)}
        assert len({tuple(v) for v in draws.values()}) == 4, make
        assert _draws(make(1, 0)) == draws[(1, 0)], make


def test_the_loaders_stream_is_the_one_saved_runs_were_drawn_from():
    # A checkpoint resumed after this change must shuffle its later epochs as before it.
    assert seeding.epoch_seed(5, 2) == 5 * 1_000_003 + 2
    assert _draws(seeding.epoch_generator(5, 2)) == _draws(torch.Generator().manual_seed(5_000_017))


def test_the_largest_seed_a_user_may_give_shuffles():
    # seed * 1_000_003 overflowed torch's 64 bits for seeds above ~1.8e13: `train linear --seed 2**62` crashed.
    loader = DataLoader((torch.arange(10), torch.arange(10)), batch_size=5, shuffle=True, seed=MAX_SEED)
    seen = torch.cat([xb for xb, _ in loader])
    assert sorted(seen.tolist()) == list(range(10))
    assert 0 <= seeding.epoch_seed(MAX_SEED, 7) < seeding.SEED_SPAN


def test_seeded_builds_the_same_weights_and_leaves_the_global_generator_alone():
    before = torch.random.get_rng_state()
    a, b = (seeding.seeded(3, lambda: torch.nn.Linear(4, 2)) for _ in range(2))
    assert torch.equal(a.weight, b.weight)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert not torch.equal(seeding.seeded(4, lambda: torch.nn.Linear(4, 2)).weight, a.weight)
