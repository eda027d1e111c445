"""Where the time of the full-MNIST telling's last cell goes, on CPU:

    dls = ImageDataLoaders.from_folder(path, train='training', valid='testing')
    learn = cnn_learner(dls, resnet18, pretrained=False, loss_func=F.cross_entropy, metrics=accuracy)
    learn.fit_one_cycle(4, 0.1)

Prints the seconds of `untar_data` and `from_folder`, then the cell's own training batches: the
mean over --batches batches after two warm-up ones, through the Learner (one-cycle, recorder,
table), and the same steps split into forward, backward and optimiser step, outside the Learner.
The last line extrapolates to the cell: 4 epochs of 937 batches of 64, plus 4 passes over the
10,000 validation images (79 batches of 128, forward only, measured too).

    python benchmarks/book_resnet18.py [--batches 30] [--threads N] [--spin] [--channels-last]

--spin imports torch before digitlab, so that OpenMP's threads spin while they wait (what the
tutorial runner did before issue 22); --channels-last converts the model and each batch to
torch.channels_last. Timings on a shared machine are noisy: compare figures taken together.
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--spin", action="store_true", help="load torch before digitlab (OpenMP spins)")
    parser.add_argument("--channels-last", action="store_true")
    args = parser.parse_args()
    if args.spin:
        import torch  # noqa: F401  before digitlab sets OMP_WAIT_POLICY
    import digitlab  # noqa: F401
    import torch
    from torch.nn import functional as F

    from digitlab import book
    from digitlab.train.callbacks import Callback, CancelFitException

    if args.threads:
        torch.set_num_threads(args.threads)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    started = time.perf_counter()
    path = book.untar_data(book.URLs.MNIST)
    untarred = time.perf_counter()
    dls = book.ImageDataLoaders.from_folder(path, train="training", valid="testing", seed=0)
    loaded = time.perf_counter()
    torch.manual_seed(0)
    learn = book.cnn_learner(dls, book.resnet18, pretrained=False, loss_func=F.cross_entropy,
                             metrics=book.accuracy)
    learn.model.to(memory_format=fmt)

    class Clock(Callback):
        order = 99

        def before_batch(self, learn) -> None:
            learn.xb = learn.xb.contiguous(memory_format=fmt)

        def after_batch(self, learn) -> None:
            if learn.iter == 1:
                self.start = time.perf_counter()
            if learn.iter == args.batches + 1:
                self.seconds = (time.perf_counter() - self.start) / args.batches
                raise CancelFitException()

    clock = Clock()
    learn.fit_one_cycle(4, 0.1, cbs=[clock])

    parts = {"forward": 0.0, "backward": 0.0, "step": 0.0}
    model, opt = learn.model, learn.opt
    model.train()
    for i, (xb, yb) in enumerate(dls.train):
        if i == args.batches + 2:
            break
        xb = xb.contiguous(memory_format=fmt)
        a = time.perf_counter()
        loss = F.cross_entropy(model(xb), yb)
        b = time.perf_counter()
        loss.backward()
        c = time.perf_counter()
        opt.step()
        opt.zero_grad()
        d = time.perf_counter()
        if i >= 2:
            for name, dt in zip(parts, (b - a, c - b, d - c)):
                parts[name] += dt / args.batches
    model.eval()
    with torch.no_grad():
        a = time.perf_counter()
        for i, (xb, _) in enumerate(dls.valid):
            model(xb.contiguous(memory_format=fmt))
            if i == 9:
                break
        valid = (time.perf_counter() - a) / 10
    cell = 4 * (len(dls.train) * clock.seconds + len(dls.valid) * valid) + (loaded - started)
    print(f"threads {torch.get_num_threads()}, {'spinning' if args.spin else 'sleeping'} OpenMP threads, "
          f"{'channels-last' if args.channels_last else 'contiguous'}; load average "
          f"{open('/proc/loadavg').read().split()[0] if sys.platform == 'linux' else '?'}")
    print(f"untar_data {untarred - started:.1f} s, from_folder {loaded - untarred:.1f} s")
    print(f"a training batch through the Learner: {clock.seconds * 1000:.0f} ms; outside it: "
          + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in parts.items()))
    print(f"a validation batch of 128: {valid * 1000:.0f} ms")
    print(f"the cell, extrapolated: {cell / 60:.1f} min")


if __name__ == "__main__":
    main()
