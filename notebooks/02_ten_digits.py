# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Further research 2: all ten digits
#
# The chapter's second further-research exercise: do every step of the chapter on the full MNIST
# (all ten digits, not just 3s and 7s). A worked answer, step by step. The obstacles on the way,
# and how each is overcome:
#
# 1. **Ten classes, not two.** Pixel similarity compares a digit with ten averages and picks the
#    nearest. The model has ten outputs, one score per digit.
# 2. **`mnist_loss` does not extend to ten classes**: it reads one output as "how much of a 3".
#    Ten scores need *softmax* (scores to probabilities that add up to 1) and *cross-entropy* (minus
#    the log of the probability of the right digit).
# 3. **Accuracy** is now "the highest score is the right digit": `argmax`, not `> 0.5`.
# 4. **Sixty thousand images**: the data stay in memory as tensors, and the DataLoader takes
#    batches of them with one indexing (a pair of tensors rather than a list of pairs).
#
# Source: `02_ten_digits.py` (Jupytext percent format); the `.ipynb` is generated from it.

# %%
from digitlab.book import *
matplotlib.rc('image', cmap='Greys')
torch.manual_seed(0); random.seed(0)
QUICK = os.environ.get("DIGITLAB_NOTEBOOK_QUICK") == "1"  # the test suite's short path

# %% [markdown]
# ## The data: fastai's MNIST, one folder of PNGs per digit

# %%
path = untar_data(URLs.MNIST)
Path.BASE_PATH = path
path.ls()

# %%
(path/'training').ls().sorted()

# %%
def stack_folder(folder):
    "Every PNG in `folder` as one (N, 28, 28) tensor of floats in [0, 1]."
    return torch.stack([tensor(Image.open(o)) for o in folder.ls().sorted()]).float()/255

train_stacks = [stack_folder(path/'training'/str(d)) for d in range(10)]
valid_stacks = [stack_folder(path/'testing'/str(d)) for d in range(10)]
[len(s) for s in train_stacks], [len(s) for s in valid_stacks]

# %% [markdown]
# ## Pixel similarity with ten averages

# %%
means = torch.stack([s.mean(0) for s in train_stacks])  # (10, 28, 28)
show_images(means, nrows=2, titles=[str(d) for d in range(10)], figsize=(8, 3.5))

# %%
def mnist_distance(a,b): return (a-b).abs().mean((-1,-2))

def nearest_mean(x):
    "The digit whose average is nearest each image: (N, 28, 28) -> (N,)."
    return mnist_distance(x[:,None], means[None]).argmin(1)  # (N, 1, 28, 28) - (1, 10, 28, 28) -> (N, 10)

per_digit = torch.stack([(nearest_mean(s) == d).float().mean() for d, s in enumerate(valid_stacks)])
per_digit

# %%
valid_x = torch.cat(valid_stacks)
valid_y = torch.cat([tensor([d]*len(s)) for d, s in enumerate(valid_stacks)])
(nearest_mean(valid_x) == valid_y).float().mean()

# %% [markdown]
# Ones are easy (99.8 %): a stroke matches the average 1 closely. Fives are hard (33 %): a five
# shares most of its ink with 3s, 6s and 8s.
#
# ## A linear model with softmax and cross-entropy, written by hand

# %%
train_x = torch.cat(train_stacks).view(-1, 28*28)
train_y = torch.cat([tensor([d]*len(s)) for d, s in enumerate(train_stacks)])
valid_x = valid_x.view(-1, 28*28)
train_x.shape, train_y.shape, valid_x.shape, valid_y.shape

# %%
def init_params(size, std=1.0): return (torch.randn(size)*std).requires_grad_()

weights = init_params((28*28,10), std=0.01)
bias = init_params(10, std=0.01)

def linear10(xb): return xb@weights + bias  # (B, 784) -> (B, 10)

# %%
def softmax(x): return x.exp() / x.exp().sum(1, keepdim=True)

def cross_entropy(preds, targets):
    "Minus the log of the probability given to the right digit, averaged."
    return -softmax(preds)[range(len(targets)), targets].log().mean()

preds = linear10(train_x[:4])
cross_entropy(preds, train_y[:4]), F.cross_entropy(preds, train_y[:4])

# %% [markdown]
# `softmax` written as the book writes it can overflow for large scores (`exp(100)` is infinite in
# float32); PyTorch's `F.cross_entropy` subtracts the largest score first. The two agree here.

# %%
def batch_accuracy(preds, yb): return (preds.argmax(1) == yb).float().mean()

dl = DataLoader((train_x, train_y), batch_size=256, shuffle=True)
valid_dl = DataLoader((valid_x, valid_y), batch_size=1024)

def train_epoch(model, lr, params):
    for xb,yb in dl:
        loss = cross_entropy(model(xb), yb)
        loss.backward()
        for p in params:
            p.data -= p.grad*lr
            p.grad.zero_()

def validate_epoch(model):
    with torch.no_grad():
        accs = [batch_accuracy(model(xb), yb)*len(yb) for xb,yb in valid_dl]
    return round((torch.stack(accs).sum()/len(valid_y)).item(), 4)

for i in range(5):
    train_epoch(linear10, 1., (weights, bias))
    print(validate_epoch(linear10), end=' ')

# %% [markdown]
# ## The Learner and a two-layer net

# %%
dls = DataLoaders(dl, valid_dl)
simple_net = nn.Sequential(
    nn.Linear(28*28,30),
    nn.ReLU(),
    nn.Linear(30,10)
)
learn = Learner(dls, simple_net, opt_func=SGD,
                loss_func=F.cross_entropy, metrics=accuracy)
learn.fit(5, 0.5)

# %%
learn.recorder.plot_loss()

# %% [markdown]
# ## Why did it say 7?
# The ten averages above are what pixel similarity learned; a linear model learns a weight per
# pixel per digit. `digitlab.explain` draws both for the models that ship with digitlab, and
# explains one answer from each method: red pushed towards the answer, blue away (docs/book.md).

# %%
from digitlab import explain, pretrained
shipped = {m: pretrained.load(m) for m in ('pixel', 'linear', 'simple_net', 'cnn')}
signed = lambda m: m / m.abs().max()  # each map in [-1, 1], so that white is 0
weights = [signed(w) for _, w in explain.learned(shipped['linear'])]
show_images(weights, nrows=2, titles=[str(d) for d in range(10)], figsize=(8, 3.5), cmap='bwr', vmin=-1, vmax=1)

# %%
seven = valid_stacks[7][0]
whys = {m: explain.explain(clf, seven) for m, clf in shipped.items()}
maps = [whys['pixel'].maps['evidence'], whys['linear'].maps['contribution'],
        whys['simple_net'].maps['contribution'], whys['cnn'].maps['integrated_gradients']]
show_images([signed(m) for m in maps], titles=[f'{m}: {e.label}' for m, e in whys.items()],
            figsize=(8, 2.4), cmap='bwr', vmin=-1, vmax=1)

# %%
linear_why = whys['linear']  # weight x pixel, plus the bias, is the 7's score exactly
round(linear_why.maps['contribution'].sum().item() + linear_why.notes['bias'], 4), round(linear_why.scores[7], 4)

# %% [markdown]
# ## resnet18 on all 60,000 images
# The full-MNIST telling's last cell. On a two-core CPU each batch of 64 costs about 0.1 to 0.25 s
# (benchmarks/RESULTS.md), so four epochs take 6 to 16 minutes.
#
# **The quick path** (`DIGITLAB_NOTEBOOK_QUICK=1`, which made the outputs stored here) trains one
# epoch on its first 5 % of batches (fastai's `ShortEpochCallback`, 46 batches, about 3,000
# digits) at a learning rate of 0.01, and validates on a random 1,000 of the 10,000 test digits.
# The sample has to be random: the test folder holds its digits in order, so its first batches are
# all 0s, and a model scored on them alone can show an accuracy of 0 or 1 whatever it has learned.

# %%
dls = ImageDataLoaders.from_folder(path, train='training', valid='testing', seed=0)
if QUICK:
    print('quick path: one epoch of 5 % of the batches at lr 0.01, validated on 1,000 random test digits')
    images, labels = dls.valid.dataset                   # (10000, 1, 28, 28), (10000,) in digit order
    some = torch.randperm(len(labels))[:1000]
    dls.valid = DataLoader((images[some], labels[some]), batch_size=128, device=dls.train.device)
learn = vision_learner(dls, resnet18, pretrained=False,
                    loss_func=F.cross_entropy, metrics=accuracy)
if QUICK: learn.fit_one_cycle(1, 0.01, cbs=[ShortEpochCallback(0.05, short_valid=False)])
else: learn.fit_one_cycle(4, 0.1)
