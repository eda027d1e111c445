"""digitlab.train.distributed: no-ops in one process, DDP across processes, clear errors when one fails.

The multi-process tests start real processes that meet through gloo on 127.0.0.1 with the same
environment variables torchrun sets, and train on a few real MNIST digits.
"""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import socket
import sys
import time
import traceback
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn

from digitlab.errors import DigitlabError, DigitlabWarning, TrainingError
from digitlab.store.files import atomic_write
from digitlab.train import distributed

needs_gloo = pytest.mark.skipif(  # the processes' own fixture skips the same way
    not (dist.is_available() and dist.is_gloo_available()),
    reason="this PyTorch build has no torch.distributed with the gloo backend",
)
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE")
GLOBAL_BATCH, STEPS, SEED = 64, 6, 0
WEIGHTS = ("1.weight", "1.bias", "3.weight", "3.bias")  # the small net's, by state_dict name


@pytest.fixture(autouse=True)
def not_launched(monkeypatch):
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))  # all bound at once, so the n ports differ
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _train(out: Path, timeout_s: float = 30.0) -> dict[str, torch.Tensor]:
    """A few steps of plain SGD on real 3s and 7s, written the way a training loop uses the module."""
    from digitlab.data import datasets

    digits = datasets.load("mnist_tiny", "train", dtype=torch.float32)
    with distributed.session(timeout_s=timeout_s):
        torch.manual_seed(SEED)
        model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 16), nn.ReLU(), nn.Linear(16, 10))
        net = distributed.wrap(model)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        order = torch.randperm(len(digits.labels), generator=torch.Generator().manual_seed(SEED))
        mine, batch = distributed.shard(order), distributed.per_process_batch(GLOBAL_BATCH)
        losses = []
        for step in range(STEPS):
            idx = mine[step * batch:(step + 1) * batch]  # (batch,)
            loss = nn.functional.cross_entropy(net(digits.images[idx]), digits.labels[idx])  # (B/W, 28, 28) -> ()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(distributed.all_reduce_mean(loss.detach()))
        distributed.main_only(_save)(model, out / "checkpoint" / "model.pt")
        norm = nn.BatchNorm1d(3)
        norm.running_mean.fill_(distributed.rank())  # as if each process had seen its own batches
        distributed.broadcast_buffers(norm)
        result = {name: p.detach().clone() for name, p in model.state_dict().items()}
        result["losses"] = torch.stack(losses)
        result["shard"] = mine
        result["running_mean"] = norm.running_mean
        result["rank"] = torch.tensor(distributed.rank())
        result["world_size"] = torch.tensor(distributed.world_size())
    return result


def _save(model: nn.Module, path: Path) -> None:
    with atomic_write(path) as f:
        torch.save(model.state_dict(), f)


def _fit_cnn(out: Path) -> dict[str, torch.Tensor]:
    """The cnn classifier through recipe.fit, as the train command calls it."""
    from digitlab import classifiers
    from digitlab.data import datasets

    train, valid = datasets.load("mnist_tiny", "train"), datasets.load("mnist_tiny", "valid")
    with distributed.session(timeout_s=30):
        clf = classifiers.make("cnn", epochs=1, seed=SEED)
        clf.fit(train.images, train.labels, valid=(valid.images, valid.labels), device="cpu",
                progress=False, epoch_end=distributed.main_only(lambda model, row: model.save(out / "cnn")))
    result = {f"model.{k}": v for k, v in clf.model_.state_dict().items()}
    result["train_loss"] = torch.tensor(clf.history_[-1]["train_loss"])
    return result


def _train_command(out: Path) -> torch.Tensor:
    from digitlab import cli

    return torch.tensor(cli.main(["train", "cnn", "--dataset", "mnist_tiny", "--epochs", "1",
                                  "--device", "cpu", "--out", str(out / "model")]))


def _die_after_meeting(out: Path) -> None:
    """Process 1 leaves the run abruptly; process 0 tries to train on."""
    with distributed.session(timeout_s=5):
        model = distributed.wrap(nn.Linear(4, 1))
        if distributed.rank() == 1:
            os._exit(3)
        time.sleep(0.5)
        model(torch.ones(8, 4)).sum().backward()  # DDP's gradient all-reduce meets a dead peer


def _job(out: Path, ports: list[int]) -> None:
    """All that the two processes do, in order; each step meets the others afresh on its own port."""
    rank = os.environ["RANK"]
    os.environ["MASTER_PORT"] = str(ports[0])
    torch.save(_train(out / "ddp"), out / f"ddp-{rank}.pt")
    os.environ["MASTER_PORT"] = str(ports[1])
    torch.save(_fit_cnn(out / "fit"), out / f"fit-{rank}.pt")
    os.environ["MASTER_PORT"] = str(ports[2])
    torch.save(_train_command(out / "command"), out / f"command-{rank}.pt")
    os.environ["MASTER_PORT"] = str(ports[3])
    _die_after_meeting(out)  # last, as process 1 leaves abruptly


def _entry(rank: int, world: int, out: Path, wait_s: float) -> None:
    """What torchrun does for one process: set its variables, then run the job."""
    faulthandler.dump_traceback_later(wait_s * 0.8, exit=True)  # a hang shows where it hung
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1")
    torch.set_num_threads(1)  # as torchrun does: the processes share this machine's cores
    try:
        _job(out, [int(p) for p in (out / "ports.txt").read_text().split()])
    except DigitlabError as err:
        _leave(out, rank, str(err), code=2)
    except BaseException:
        _leave(out, rank, "not a DigitlabError:\n" + traceback.format_exc(), code=1)
    _leave(out, rank, None, code=0)


def _leave(out: Path, rank: int, error: str | None, code: int) -> None:
    """Write the error, if any, and end the process at once, as a worker that torchrun stops would.

    Called inside the `except` block on purpose: leaving the block frees the traceback, and with it
    the DDP wrapper of a run whose peer died, and that teardown (gloo's, in C++) sometimes blocks
    until the watchdog fires: exit code 1 after 192 s, the error file already right. Raising
    SystemExit from the block hung in 2 of 5 runs on a loaded machine, os._exit after the block in
    1 of 6, os._exit inside it in none of 10. PyTorch's teardown is not what these tests check.
    """
    if error is not None:
        (out / f"error-{rank}.txt").write_text(error)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory, mnist_train, mnist_test) -> tuple[Path, list[int]]:
    """Runs `_job` once in two processes (starting one costs seconds); its folder and exit codes.

    The MNIST fixtures build the data cache first, so the two processes only read it.
    """
    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("this PyTorch build has no torch.distributed with the gloo backend")
    out, world, wait_s = tmp_path_factory.mktemp("two-processes"), 2, 240.0
    (out / "ports.txt").write_text(" ".join(map(str, _free_ports(4))))
    context = multiprocessing.get_context("spawn")  # fork is unsafe once torch has threads
    procs = [context.Process(target=_entry, args=(rank, world, out, wait_s)) for rank in range(world)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + wait_s
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    hung = [p for p in procs if p.is_alive()]
    for p in hung:
        p.kill()
        p.join()
    assert not hung, f"{len(hung)} process(es) still running after {wait_s} s: a hang"
    return out, [p.exitcode for p in procs]


def _errors(out: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(out.glob("error-*.txt")))


def test_one_process_changes_nothing():
    model = nn.Linear(3, 2)
    order = torch.randperm(10)
    with distributed.session() as started:
        assert not started and not distributed.is_distributed()
        assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
        assert distributed.wrap(model) is model and distributed.unwrap(model) is model
        assert distributed.shard(order) is order
        assert distributed.per_process_batch(64) == 64
        value = torch.tensor([1.0, 2.0])
        assert distributed.all_reduce_mean(value) is value and distributed.all_reduce_sum(2.5) == 2.5
        assert distributed.main_only(lambda x: x + 1)(1) == 2
        distributed.barrier()


def test_shards_are_disjoint_equal_and_keep_each_global_batch(monkeypatch):
    order = torch.randperm(103, generator=torch.Generator().manual_seed(1))
    world, batch = 4, 8
    monkeypatch.setattr(distributed, "world_size", lambda: world)
    shards = []
    for r in range(world):
        monkeypatch.setattr(distributed, "rank", lambda r=r: r)
        shards.append(distributed.shard(order))
    assert {len(s) for s in shards} == {103 // world}
    together = torch.cat(shards)
    assert len(together.unique()) == len(together) == 100  # disjoint; the last 3 dropped
    for step in range(100 // (world * batch)):
        global_batch = set(order[step * world * batch:(step + 1) * world * batch].tolist())
        step_batches = [s[step * batch:(step + 1) * batch] for s in shards]
        assert set(torch.cat(step_batches).tolist()) == global_batch
    kept = []
    for r in range(world):
        monkeypatch.setattr(distributed, "rank", lambda r=r: r)
        kept.append(distributed.shard(order, drop_remainder=False))
    assert sorted(torch.cat(kept).tolist()) == sorted(order.tolist())


def test_batch_that_does_not_split_is_rounded_down_with_a_warning(monkeypatch):
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    assert distributed.per_process_batch(96) == 32
    with pytest.warns(DigitlabWarning, match="batch of 64 does not split evenly over 3 .* global batch is 63"):
        assert distributed.per_process_batch(64) == 21


def test_torchrun_variables_are_checked(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(TrainingError, match="RANK is not"):
        distributed.init_from_env()
    monkeypatch.setenv("RANK", "5")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "1")
    with pytest.raises(TrainingError, match="RANK=5 is outside 0..1"):
        distributed.init_from_env()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "soon")
    with pytest.raises(TrainingError, match="DIGITLAB_DIST_TIMEOUT='soon'"):
        distributed.init_from_env()
    assert not distributed.is_distributed()


def test_two_processes_train_like_one_with_the_same_global_batch(two_processes, tmp_path):
    out, _ = two_processes
    assert (out / "ddp-1.pt").exists(), _errors(out)
    ranks = [torch.load(out / f"ddp-{r}.pt") for r in range(2)]
    alone = _train(tmp_path)
    assert [int(r["world_size"]) for r in ranks] == [2, 2] and int(alone["world_size"]) == 1

    # Each process saw its own half of the epoch, drawn from the same seed.
    assert not set(ranks[0]["shard"].tolist()) & set(ranks[1]["shard"].tolist())
    assert len(ranks[0]["shard"]) == len(ranks[1]["shard"]) == len(alone["shard"]) // 2
    # DDP kept the two copies identical, bit for bit, and all_reduce_mean gave both the same losses.
    for name in WEIGHTS + ("losses",):
        assert torch.equal(ranks[0][name], ranks[1][name]), name
    # Averaged gradients of two half-batches are the full batch's gradient: same weights, same
    # losses as one process, up to the order in which floats were added.
    for name in WEIGHTS + ("losses",):
        torch.testing.assert_close(ranks[0][name], alone[name], rtol=1e-4, atol=1e-5)
    assert not torch.equal(alone["1.weight"], _initial_weight()), "training did not move the weights"
    # broadcast_buffers gave every process process 0's buffers.
    assert [r["running_mean"].tolist() for r in ranks] == [[0.0, 0.0, 0.0]] * 2
    # Only the main process wrote a checkpoint.
    assert [p.name for p in (out / "ddp" / "checkpoint").iterdir()] == ["model.pt"]


def _initial_weight() -> torch.Tensor:
    torch.manual_seed(SEED)
    return nn.Linear(28 * 28, 16).weight.detach()


def test_cnn_recipe_under_two_processes_ends_with_one_model_everywhere(two_processes):
    out, _ = two_processes
    assert (out / "fit-1.pt").exists(), _errors(out)
    ranks = [torch.load(out / f"fit-{r}.pt") for r in range(2)]
    assert ranks[0].keys() == ranks[1].keys()
    for name, value in ranks[0].items():  # weights, BatchNorm statistics, the all-reduced loss
        assert torch.equal(value, ranks[1][name]), name
    assert sorted(p.name for p in (out / "fit" / "cnn").iterdir()) == ["README.md", "config.json", "model.safetensors"]


def test_train_command_under_two_processes_writes_one_checkpoint(two_processes):
    out, _ = two_processes
    assert (out / "command-1.pt").exists(), _errors(out)
    assert [int(torch.load(out / f"command-{r}.pt")) for r in range(2)] == [0, 0]
    assert sorted(p.name for p in (out / "command" / "model").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert not list(out.glob("command/model/.*")), "a temporary file was left behind"


def test_a_process_that_dies_stops_the_others_with_a_clear_error(two_processes):
    out, codes = two_processes
    assert codes == [2, 3], _errors(out)
    message = (out / "error-0.txt").read_text()
    assert message.startswith("process 0 of 2: another process of this run stopped"), message


@needs_gloo
@pytest.mark.parametrize("rank", ["0", "1"])  # 0 waits for the others; 1 finds nobody to call
def test_a_meeting_that_never_completes_ends_within_the_timeout(monkeypatch, rank):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_ports(1)[0]))
    with pytest.raises(TrainingError, match=rf"process {rank} of 2 could not meet the others at 127"
                                            r"\.0\.0\.1:\d+ within 1 s \((?i:.*timed out)"):
        distributed.init_from_env(timeout_s=1)
    assert not distributed.is_distributed()
