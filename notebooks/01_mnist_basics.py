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
# # Teaching a computer to tell a 3 from a 7
#
# This notebook builds a handwritten-digit classifier from nothing, one idea at a time. It covers
# the same ground as chapter 4 of the fastai book ("MNIST basics"), but you do not need the book:
# every idea is explained here before the code that uses it. You need some Python; the maths is
# no harder than a slope on a graph.
#
# The plan:
#
# 1. **Look at the data**: a picture of a digit is a grid of numbers, and a pile of pictures is a
#    *tensor*.
# 2. **A baseline with no learning at all**: average every 3 and every 7, and call a new digit
#    whichever average it is closer to.
# 3. **Learning**: *stochastic gradient descent* (SGD), the recipe behind nearly all of deep
#    learning, first on a toy curve and then on digits.
# 4. **From one layer to a network**: why a *nonlinearity* between two layers matters, and what a
#    deep *ResNet* adds.
#
# Everything runs offline on digitlab (`from digitlab.book import *`): the MNIST images ship
# inside the package.
#
# **The quick path.** One cell (resnet18, near the end) would take minutes on a laptop's CPU.
# With the environment variable `DIGITLAB_NOTEBOOK_QUICK=1` it trains on a smaller set of images
# instead and says so in its output. The outputs saved in this file come from that quick path;
# every other cell runs in full either way.

# %%
from digitlab.book import *
matplotlib.rc('image', cmap='Greys')   # draw digits as dark ink on white paper
torch.manual_seed(0); random.seed(0)   # the same random numbers on every run, so the outputs repeat
QUICK = os.environ.get("DIGITLAB_NOTEBOOK_QUICK") == "1"

# %% [markdown]
# ## 1. The data: folders of small pictures
#
# MNIST is a collection of 70,000 handwritten digits, each scanned into a 28 by 28 pixel greyscale
# picture. To start small we keep only two digits, 3 and 7, so the question is a yes/no one: *is
# this a 3?*
#
# The pictures come in two folders. `train` holds the examples the computer may learn from;
# `valid` (the *validation set*) holds others it never sees while learning. We judge every method
# on the validation set only: a method that remembered its training pictures by heart would
# score perfectly on them and still be useless on new handwriting.

# %%
path = untar_data(URLs.MNIST_SAMPLE)   # writes the folders from the shipped MNIST files, once
Path.BASE_PATH = path                  # print paths relative to this folder
path.ls(), (path/'train').ls()

# %%
three_files = (path/'train'/'3').ls().sorted()
seven_files = (path/'train'/'7').ls().sorted()
len(three_files), len(seven_files)

# %% [markdown]
# About six thousand of each. Here is one of the 3s, opened as a picture:

# %%
example_file = three_files[1]
example = Image.open(example_file)
example_file, example

# %% [markdown]
# ## 2. A picture is a grid of numbers
#
# A computer sees no strokes, only numbers. Each pixel is one number from 0 (white paper) to 255
# (the darkest ink). Turning the picture into a `tensor` (PyTorch's name for an array of numbers)
# lets us read them. Here is a patch from the top left of the 3, rows 4 to 9 and columns 4 to 9:

# %%
pixels = tensor(example)      # (28, 28) whole numbers from 0 to 255
pixels[4:10, 4:10]

# %% [markdown]
# A bigger patch (rows 4 to 15, columns 4 to 23) drawn as a picture, each square labelled with its
# number. The top curve of the 3 is the band of large numbers:

# %%
def show_number_grid(grid):
    "Draw a small grid of pixel values as grey squares, each with its value written on it."
    fig, ax = plt.subplots(figsize=(0.33*grid.shape[1], 0.33*grid.shape[0]))
    ax.imshow(grid, vmin=0, vmax=255)
    for (row, col), value in np.ndenumerate(np.asarray(grid)):
        ax.text(col, row, int(value), ha='center', va='center', fontsize=6,
                color='white' if value > 128 else 'black')
    ax.set_xticks([]); ax.set_yticks([])

show_number_grid(pixels[4:16, 4:24])

# %% [markdown]
# ### Tensors, their shape and their rank
#
# One picture is a 28 x 28 table of numbers. Put all 6,131 training 3s on top of each other and you
# get a *stack* of tables, with three numbers describing its size: how many pictures, how many
# rows, how many columns. That list of sizes is the tensor's **shape**; how many entries the list
# has is its **rank** (also called its number of *axes* or *dimensions*):
#
# | what | shape | rank |
# |---|---|---|
# | one pixel value | `()` | 0 (a single number, a *scalar*) |
# | one row of a picture | `(28,)` | 1 (a *vector*) |
# | one picture | `(28, 28)` | 2 (a *matrix*) |
# | all the 3s | `(6131, 28, 28)` | 3 |
#
# We also divide by 255 so that every pixel becomes a fraction between 0 and 1: networks learn
# more easily from small numbers.

# %%
def load_stack(files):
    "The pictures in `files` as one (N, 28, 28) tensor of floats from 0 to 1."
    return torch.stack([tensor(Image.open(f)) for f in files]).float() / 255

threes = load_stack(three_files)
sevens = load_stack(seven_files)
threes.shape, threes.ndim

# %% [markdown]
# Indexing picks pieces out of a tensor, one position per axis; a colon means "all of this axis".
# Each index you give removes one axis, so the rank drops:

# %%
threes[0].shape, threes[0, 5].shape, threes[0, 5, 10].shape, threes[:, 5, 10].shape

# %% [markdown]
# ## 3. A baseline with no learning: the average digit
#
# Before any clever method, build the simplest thing that could work and measure it. That number,
# the *baseline*, tells us later whether the cleverness paid.
#
# Our baseline: average all the 3s pixel by pixel (a mean along the first axis, the one that
# counts pictures), and the same for the 7s. Where most writers put ink, the average is dark;
# where only a few do, it is a faint blur.

# %%
mean3 = threes.mean(0)   # (6131, 28, 28) -> (28, 28)
mean7 = sevens.mean(0)
show_images([mean3, mean7], titles=['the average 3', 'the average 7'], figsize=(5, 2.5))

# %% [markdown]
# To decide whether a picture looks more like the average 3 or the average 7 we need a
# **distance** between two pictures. Subtracting them pixel by pixel gives positive and negative
# differences that would cancel out in a plain average, so we first make each one positive. Two
# common ways:
#
# * the **mean absolute difference** (also called the L1 norm): average the differences' sizes;
# * the **root mean squared error** (the L2 norm): square the differences, average, take the
#   square root. Squaring punishes a few large differences more than many small ones.
#
# Our example 3 should be nearer the average 3 than the average 7 by both measures:

# %%
sample = threes[1]   # the example 3 from above, as fractions

def mean_abs_distance(a, b): return (a - b).abs().mean()
def rms_distance(a, b): return ((a - b)**2).mean().sqrt()

[(round(mean_abs_distance(sample, m).item(), 4), round(rms_distance(sample, m).item(), 4))
 for m in (mean3, mean7)]

# %% [markdown]
# ### Scoring the baseline on the validation set, with broadcasting
#
# One example proves little: we score all the validation pictures. We could loop over them, but
# PyTorch can do the whole set at once through **broadcasting**: when two tensors of different
# rank meet in an operation, the smaller one is treated as if it were copied along the missing
# axes. Subtracting a `(28, 28)` average from a `(1010, 28, 28)` stack subtracts it from every
# picture, without the copies ever being made in memory and without a Python loop.
#
# Our distance then averages over the last two axes (rows and columns) only, leaving one distance
# per picture.

# %%
valid_threes = load_stack((path/'valid'/'3').ls().sorted())
valid_sevens = load_stack((path/'valid'/'7').ls().sorted())

def distances(pictures, average):
    "The mean absolute distance of each picture to `average`: (N, 28, 28), (28, 28) -> (N,)."
    return (pictures - average).abs().mean((-1, -2))

(valid_threes - mean3).shape, distances(valid_threes, mean3).shape

# %% [markdown]
# A picture is called a 3 when it is closer to the average 3. The **accuracy** is the share of
# pictures called correctly; we give it for the 3s, the 7s, and both together:

# %%
def looks_like_3(pictures): return distances(pictures, mean3) < distances(pictures, mean7)

right_on_3s = looks_like_3(valid_threes).float().mean()
right_on_7s = (~looks_like_3(valid_sevens)).float().mean()
right_on_3s, right_on_7s, (right_on_3s + right_on_7s) / 2

# %% [markdown]
# About 95 % right with no learning at all. That is the number to beat. The baseline cannot
# improve itself, though: nothing in it changes with experience. The rest of the notebook is about
# a method that does.
#
# ## 4. Learning: stochastic gradient descent
#
# Instead of fixing a rule by hand, give the computer a rule with adjustable numbers in it, the
# **parameters** (or *weights*), and a way to adjust them so that it does better. Every deep
# learning model learns through the same seven steps:
#
# 1. **Initialise** the parameters, usually at random.
# 2. **Predict**: run the model on some examples.
# 3. **Loss**: measure with one number how wrong the predictions are (smaller is better).
# 4. **Gradient**: for every parameter, work out how the loss would change if it were nudged up.
# 5. **Step**: nudge every parameter a little in the direction that lowers the loss.
# 6. **Repeat** from step 2.
# 7. **Stop** when the model is good enough, or we run out of time.
#
# As a picture (the arrow back is the repetition):

# %%
def draw_steps(steps, repeat_from, repeat_to):
    "The steps as boxes left to right, with a curved arrow back for the repetition."
    fig, ax = plt.subplots(figsize=(9, 1.8))
    for i, step in enumerate(steps):
        ax.text(i*1.6, 0, step, ha='center', va='center', fontsize=10,
                bbox=dict(boxstyle='round', facecolor='whitesmoke'))
        if i: ax.annotate('', xy=(i*1.6 - 0.55, 0), xytext=((i-1)*1.6 + 0.55, 0),
                          arrowprops=dict(arrowstyle='->'))
    ax.annotate('', xy=(repeat_to*1.6, 0.25), xytext=(repeat_from*1.6, 0.25),
                arrowprops=dict(arrowstyle='->', connectionstyle='arc3,rad=0.35'))
    ax.text((repeat_from + repeat_to)*0.8, 0.75, 'repeat', ha='center', fontsize=9)
    ax.set_xlim(-0.8, (len(steps) - 1)*1.6 + 0.8); ax.set_ylim(-0.5, 1); ax.axis('off')

draw_steps(['initialise', 'predict', 'loss', 'gradient', 'step', 'stop'], repeat_from=4, repeat_to=1)

# %% [markdown]
# ### The gradient: which way is downhill
#
# Step 4 is the heart of it. Picture the loss as a landscape and the parameters as your position
# on it. The **gradient** is the slope under your feet: it says which way is uphill and how steep
# it is. Stepping the other way goes downhill, towards a smaller loss.
#
# A one-parameter landscape makes it visible. For the curve y = x², at x = -1.5 the slope is
# -3 (the slope of x² is 2x): going right lowers y. The red arrow is that downhill direction.

# %%
def bowl(x): return x**2

plot_function(bowl, 'x', 'loss')
plt.scatter(-1.5, bowl(-1.5), color='red')
plt.annotate('', xy=(-0.9, bowl(-0.9)), xytext=(-1.5, bowl(-1.5)),
             arrowprops=dict(arrowstyle='->', color='red', lw=2));

# %% [markdown]
# Nobody works gradients out by hand in practice. PyTorch records every operation done on a
# tensor that was marked with `requires_grad_()`, and `backward()` then computes the slope of the
# result with respect to it (a method called *backpropagation*). The answer lands in `.grad`. At
# x = 3 the slope of x² should be 6:

# %%
x = tensor(3.).requires_grad_()
y = bowl(x)
y.backward()
x.grad

# %% [markdown]
# It works for many parameters at once. With three numbers and a loss that adds up their squares,
# each gets its own slope, twice its value:

# %%
xs = tensor([3., 4., 10.]).requires_grad_()
bowl(xs).sum().backward()
xs.grad

# %% [markdown]
# ### The learning rate: how big a step
#
# The gradient gives a direction; the size of the step is the gradient multiplied by a small
# number, the **learning rate** (lr). Its choice matters. The three panels start from the same
# point on the bowl and take ten steps each: with a tiny lr the steps crawl, with a good one they
# reach the bottom, and with one too large each step jumps over the bottom and climbs the other
# side, further every time.

# %%
def descend(start, lr, steps=10):
    "The x positions visited by `steps` gradient steps on the bowl from `start`."
    x, visited = tensor(start).requires_grad_(), [start]
    for _ in range(steps):
        bowl(x).backward()
        with torch.no_grad(): x -= lr * x.grad
        x.grad = None
        visited.append(x.item())
    return tensor(visited)

_, axs = plt.subplots(1, 3, figsize=(10, 2.8))
grid = torch.linspace(-3, 3, 100)
for ax, lr in zip(axs, (0.02, 0.3, 1.03)):
    path_x = descend(-2.0, lr)
    ax.plot(grid, bowl(grid), color='lightgrey')
    ax.plot(path_x, bowl(path_x), 'o-', color='red', markersize=3)
    ax.set_title(f'lr = {lr}'); ax.set_ylim(-0.5, 9.5)
plt.tight_layout()

# %% [markdown]
# ### The seven steps on a toy problem
#
# Before digits, a problem small enough to watch. We time a ball thrown upwards, measuring its
# height (with some measurement error) 20 times. Its true path is a parabola,
# height = a·t² + b·t + c, but suppose we do not know a, b and c. These three numbers are our
# parameters, and SGD should find them from the measurements alone.

# %%
t = torch.arange(20).float() / 10                       # seconds: 0.0, 0.1, ... 1.9
height = -4.9*t**2 + 9*t + 1 + torch.randn(20)*0.3      # metres, with measurement noise

def parabola(t, params):
    a, b, c = params
    return a*t**2 + b*t + c

def mse(predictions, targets): return ((predictions - targets)**2).mean()

plt.scatter(t, height); plt.xlabel('time (s)'); plt.ylabel('height (m)');

# %% [markdown]
# Step 1 is a random start. Step 2 predicts, step 3 scores the predictions with the **mean squared
# error** (the average squared gap between prediction and measurement), step 4 gets the gradients.

# %%
params = torch.randn(3).requires_grad_()                # step 1
start = params.detach().clone()
loss = mse(parabola(t, params), height)                 # steps 2 and 3
loss.backward()                                         # step 4
loss, params.grad

# %% [markdown]
# Step 5 moves each parameter against its gradient. Two details: the update is done under
# `torch.no_grad()` (it is bookkeeping, not part of the model, so PyTorch should not record it), and
# afterwards the gradients are cleared, because `backward()` *adds* to `.grad` rather than
# replacing it. Then steps 2 to 5 repeat (step 6), printing the loss each time:

# %%
lr = 0.1

def sgd_step(params):
    "One round of steps 2 to 5; returns the predictions it made and their loss."
    predictions = parabola(t, params)
    loss = mse(predictions, height)
    loss.backward()
    with torch.no_grad(): params -= lr * params.grad
    params.grad = None
    return predictions, loss.item()

[round(sgd_step(params)[1], 2) for _ in range(10)]

# %% [markdown]
# The loss falls. To watch the fit itself improve, we start again from the same random parameters
# and draw the predictions (red) against the measurements (blue) after 0, 20, 100 and 1,000
# rounds. Step 7, stopping, is simply where we decide the fit is close enough.

# %%
params = start.clone().requires_grad_()
_, axs = plt.subplots(1, 4, figsize=(12, 2.6), sharey=True)
done = 0
for ax, rounds in zip(axs, (0, 20, 100, 1000)):
    for _ in range(rounds - done): predictions, loss = sgd_step(params)
    done = rounds
    ax.scatter(t, height, s=8)
    ax.plot(t, parabola(t, params).detach(), color='red')
    ax.set_title(f'after {rounds} rounds')
plt.tight_layout()

# %% [markdown]
# The fit is close, but it took a thousand rounds: `a` multiplies t², which is small for the
# early times and large for the late ones, so the three parameters need very different step sizes
# and one learning rate has to suit the most sensitive of them. The ball was simulated with
# a = -4.9, b = 9 and c = 1; SGD, which never saw those numbers, found:

# %%
params.detach()

# %% [markdown]
# ## 5. SGD on the digits
#
# Now the real task. The model will be **linear**: one weight per pixel plus one extra number,
# the **bias**. A picture's score is the sum of each pixel times its weight, plus the bias; a
# positive score means "3", a negative one "7". Learning means finding 785 numbers instead of 3.
#
# A linear model does not care where a pixel sits in the grid, so each picture becomes one long
# row of 784 numbers (`view(-1, 28*28)` reshapes without copying). The answers, the *targets*, are
# 1 for a 3 and 0 for a 7.

# %%
train_x = torch.cat([threes, sevens]).view(-1, 28*28)                 # (12396, 784)
train_y = tensor([1]*len(threes) + [0]*len(sevens)).unsqueeze(1)       # (12396, 1)
valid_x = torch.cat([valid_threes, valid_sevens]).view(-1, 28*28)
valid_y = tensor([1]*len(valid_threes) + [0]*len(valid_sevens)).unsqueeze(1)
train_x.shape, train_y.shape, valid_x.shape

# %% [markdown]
# Step 1, random parameters. Multiplying every picture by the weights at once is a **matrix
# multiplication** (`@`): a `(12396, 784)` stack of rows times a `(784, 1)` column of weights gives
# one score per picture. As expected from random weights, about half the answers are right:

# %%
weights = torch.randn(28*28, 1).requires_grad_()
bias = torch.randn(1).requires_grad_()

def linear_model(x): return x @ weights + bias       # (N, 784) @ (784, 1) -> (N, 1)

def share_right(scores, targets): return ((scores > 0).float() == targets).float().mean().item()

share_right(linear_model(train_x), train_y)

# %% [markdown]
# ### Why accuracy is a metric, not a loss
#
# Accuracy is what we care about, so why not make it the loss and descend its gradient? Because
# it is flat almost everywhere. Nudge one weight a little: hardly any score crosses zero, so no
# answer flips from wrong to right and the accuracy does not move at all. Its gradient is zero
# wherever it is defined, and a zero gradient gives SGD no direction to step in.
#
# So we keep two numbers. The **metric** (here accuracy) is for people: it tells us how good the
# model is. The **loss** is for the computer: it must change smoothly, a little, whenever a
# weight changes a little, so that its gradient points somewhere useful.
#
# The nudge, measured: the weight of the pixel in the middle of the grid (row 14, column 14, so
# position 14·28 + 14 = 406 counting from 0 in the row of 784) goes up by 0.001. Thousands of
# scores move, the accuracy does not:

# %%
before = linear_model(train_x)
with torch.no_grad(): weights[14*28 + 14] += 0.001
after = linear_model(train_x)
int((after != before).sum()), share_right(before, train_y) == share_right(after, train_y)

# %% [markdown]
# ### A loss for "3 or not"
#
# A useful loss rewards confidence in the right direction. If the model gives every picture a
# number between 0 and 1, meaning "how much of a 3", then for a real 3 (target 1) the loss is how
# far that number falls short of 1, and for a 7 (target 0) it is the number itself.
# `torch.where(condition, a, b)` picks `a` where the condition holds and `b` elsewhere. Three
# predictions for a 3, a 7 and a 3:

# %%
def gap_loss(predictions, targets):
    "How far each prediction in [0, 1] is from its target, averaged."
    return torch.where(targets == 1, 1 - predictions, predictions).mean()

targets = tensor([1, 0, 1])
gap_loss(tensor([0.9, 0.4, 0.2]), targets), gap_loss(tensor([0.9, 0.4, 0.8]), targets)

# %% [markdown]
# Making the last prediction more confident and right (0.2 to 0.8) lowered the loss, as it
# should. But our linear model's scores are any size, not numbers between 0 and 1. The
# **sigmoid** function, 1 / (1 + e⁻ˣ), squashes any number into that range: large negative
# scores go towards 0, large positive ones towards 1, and 0 lands at one half.

# %%
plot_function(torch.sigmoid, 'score', 'sigmoid(score)', min=-6, max=6)

# %% [markdown]
# The loss is then `gap_loss` applied to the squashed scores. Drawn against the raw score, for a
# 3 and for a 7, it slides smoothly downhill in the right direction, and it flattens out once a
# picture is confidently right, so that the model spends its effort on the pictures it still gets
# wrong:

# %%
def sigmoid_loss(scores, targets): return gap_loss(scores.sigmoid(), targets)

scores = torch.linspace(-6, 6, 100)
plt.plot(scores, [sigmoid_loss(s, tensor(1)) for s in scores], label='target 1 (a 3)')
plt.plot(scores, [sigmoid_loss(s, tensor(0)) for s in scores], label='target 0 (a 7)')
plt.xlabel('score'); plt.ylabel('loss'); plt.legend();

# %% [markdown]
# ### Mini-batches
#
# Step 2 could predict every training picture before each step: accurate, but one step per pass
# over 12,396 pictures is slow progress. It could use a single picture: fast, but one picture's
# gradient is a poor guide for all of them. The usual middle way is a **mini-batch**, a few
# hundred pictures at a time. The "stochastic" in SGD refers to this random sampling: the batches
# are shuffled anew on every pass (every *epoch*), so the model does not learn the order.
#
# A `DataLoader` cuts a collection into shuffled batches. On the numbers 0 to 14, in batches of 5:

# %%
list(DataLoader(range(15), batch_size=5, shuffle=True))

# %% [markdown]
# For the digits it takes the pictures and the targets together, and hands back matching batches
# of both:

# %%
train_dl = DataLoader((train_x, train_y), batch_size=256, shuffle=True, seed=0)
valid_dl = DataLoader((valid_x, valid_y), batch_size=256)
xb, yb = first(train_dl)
xb.shape, yb.shape

# %% [markdown]
# ### The training loop, written out
#
# All seven steps for the digits. One epoch runs steps 2 to 5 once per batch; `validate` measures
# the metric on the validation set, where the model never learns anything.

# %%
def train_one_epoch(model, params, lr):
    for xb, yb in train_dl:
        loss = sigmoid_loss(model(xb), yb)     # steps 2 and 3
        loss.backward()                        # step 4
        with torch.no_grad():
            for p in params:                   # step 5
                p -= lr * p.grad
                p.grad = None

def validate(model):
    with torch.no_grad():
        return round(share_right(model(valid_x), valid_y), 4)

validate(linear_model)

# %% [markdown]
# Twenty epochs with a learning rate of 1 (large, but this loss's gradients are small), printing
# the validation accuracy after each:

# %%
for epoch in range(20):
    train_one_epoch(linear_model, (weights, bias), lr=1.0)
    print(validate(linear_model), end=' ')

# %% [markdown]
# From a coin toss to about 97 % in a few seconds, already past the averages' 95 %. And nothing
# in the loop knows about digits: it would learn from any pictures and targets.
#
# ### Tidying up: layers, optimisers and a Learner
#
# Libraries package each piece of that loop so it need not be rewritten every time:
#
# * PyTorch's `nn.Linear(784, 1)` holds its own weights and bias, already initialised, and
#   lists them in `.parameters()`;
# * an **optimiser** holds the parameters and the learning rate and does step 5 (`step`) and the
#   clearing of gradients (`zero_grad`);
# * a **Learner** ties data, model, loss, optimiser and metric together and runs the epochs.
#
# An optimiser is only a few lines. Ours, for plain SGD:

# %%
class PlainSGD:
    def __init__(self, params, lr): self.params, self.lr = list(params), lr

    def step(self):
        with torch.no_grad():
            for p in self.params: p -= self.lr * p.grad

    def zero_grad(self):
        for p in self.params: p.grad = None

layer = nn.Linear(28*28, 1)
opt = PlainSGD(layer.parameters(), lr=1.0)
for epoch in range(20):
    for xb, yb in train_dl:
        sigmoid_loss(layer(xb), yb).backward()
        opt.step(); opt.zero_grad()
    print(validate(layer), end=' ')

# %% [markdown]
# digitlab's `Learner` runs that same loop (with its own `SGD`) and prints a table per epoch: the
# training loss, the validation loss, and the metric. The metric must work on a batch of raw
# scores, so it applies the sigmoid first:

# %%
def batch_accuracy(scores, targets): return ((scores.sigmoid() > 0.5) == targets).float().mean()

dls = DataLoaders(train_dl, valid_dl)
learn = Learner(dls, nn.Linear(28*28, 1), opt_func=SGD, loss_func=sigmoid_loss, metrics=batch_accuracy)
learn.fit(10, lr=1.0)

# %% [markdown]
# ## 6. Adding a nonlinearity: from a line to a network
#
# Could we make the model stronger by stacking two linear layers, one after the other? No: a
# linear function of a linear function is still linear. The two layers multiply into a single
# layer that does exactly the same thing, so nothing is gained. Checked numerically below: two
# random layers, and the one layer made by multiplying them out, give the same answers.

# %%
first_layer, second_layer = nn.Linear(28*28, 30), nn.Linear(30, 1)
merged_w = second_layer.weight @ first_layer.weight                      # (1, 30) @ (30, 784) -> (1, 784)
merged_b = second_layer.weight @ first_layer.bias + second_layer.bias    # (1,)
torch.allclose(second_layer(first_layer(valid_x)), valid_x @ merged_w.T + merged_b, atol=1e-5)

# %% [markdown]
# What breaks the collapse is a **nonlinearity** between the layers. The simplest is the
# **rectified linear unit**, ReLU: keep positive numbers, turn negative ones into zero. It bends
# the line at zero, and with enough such bends (30 here, one per unit of the first layer) a
# network can trace almost any shape: in principle, given enough units, any continuous function as
# closely as you like.

# %%
plot_function(F.relu, 'x', 'relu(x)')

# %% [markdown]
# The network: 784 pixels into 30 units, ReLU, then 30 units into one score. It has about 24,000
# parameters against the linear model's 785, and learns with the very same loop. It needs a
# smaller learning rate and more epochs:

# %%
simple_net = nn.Sequential(nn.Linear(28*28, 30), nn.ReLU(), nn.Linear(30, 1))
learn = Learner(dls, simple_net, opt_func=SGD, loss_func=sigmoid_loss, metrics=batch_accuracy)
learn.fit(40, 0.1)

# %% [markdown]
# The Learner kept each epoch's figures in `learn.recorder.values` (training loss, validation
# loss, metric). The accuracy climbs fast at first, then slowly:

# %%
plt.plot([row[2] for row in learn.recorder.values])
plt.xlabel('epoch'); plt.ylabel('validation accuracy');

# %% [markdown]
# ## 7. Going deeper: a ResNet
#
# The two-layer net treats the picture as a flat row of 784 numbers; it cannot know that two
# pixels are neighbours. Modern image models add three things:
#
# * **Convolutions**: small filters (3 x 3 pixels) slid across the picture, each looking for one
#   local pattern such as an edge or a corner wherever it occurs. Layers of them build larger
#   patterns (loops, strokes) out of smaller ones.
# * **Depth**: many layers (18 in resnet18), which can build more elaborate features than two.
# * **Skip connections**, the "res" in ResNet: each block adds its input back to its output, so it
#   only has to learn a *correction* (a *residual*). A block that has nothing useful to add can
#   pass its input straight through, and gradients flow back through the additions undisturbed.
#   That is what makes deep networks trainable. ResNets also use *batch normalisation*, which
#   rescales each layer's outputs to a steady range.
#
# This also changes the output: instead of one score with a sigmoid, the model gives one score per
# class ('3' and '7') and uses the **cross-entropy** loss, the many-class version of our loss
# (notebook 02 builds it up for all ten digits).
#
# Trained on all 12,396 pictures at a learning rate of 0.1 (the full run), resnet18 reached
# 99.85 % in one epoch, which took 1 to 2 minutes on two CPU cores. **The quick path** trains on
# MNIST_TINY's 709 pictures instead. One epoch of those at that rate, in batches of 64, is only 11
# steps: far too few for an untrained resnet18. Its training loss (1.49) was worse than guessing
# (0.69), and its validation loss showed over 100, at 54 % accuracy: batch normalisation's running
# averages, which validation uses, had not caught up with weights that had jumped that far. So the
# quick path takes batches of 16 (44 steps) at a learning rate of 0.01. The output says which path
# ran. Expect the quick path to land below the two-layer net, which saw 17 times as many pictures
# 40 times over; the full run is the one that shows what depth buys.

# %%
if QUICK:
    print('quick path: resnet18 on MNIST_TINY (709 pictures), batches of 16, lr 0.01')
    dls = ImageDataLoaders.from_folder(untar_data(URLs.MNIST_TINY), bs=16, seed=0)
    lr = 0.01
else:
    print('full run: resnet18 on all 12,396 training pictures, batches of 64, lr 0.1')
    dls = ImageDataLoaders.from_folder(path, seed=0)
    lr = 0.1
learn = vision_learner(dls, resnet18, pretrained=False, loss_func=F.cross_entropy, metrics=accuracy)
learn.fit_one_cycle(1, lr)

# %% [markdown]
# `fit_one_cycle` warms the learning rate up and then cools it down over the run, which lets a
# large rate be used safely. The recorder's plot shows the training loss batch by batch (noisy,
# since every batch is different) and the validation loss at the end of the epoch:

# %%
learn.recorder.plot_loss()

# %% [markdown]
# ## What we built, in one table
#
# | word | meaning here |
# |---|---|
# | tensor, shape, rank | an array of numbers; the size of each axis; how many axes |
# | baseline | the simplest method worth measuring, to know whether a better one is better |
# | broadcasting | applying an operation between tensors of different rank without loops or copies |
# | parameters (weights, bias) | the numbers a model learns |
# | loss / metric | the smooth number SGD lowers / the number people read |
# | gradient, learning rate | the slope of the loss for each parameter; how far to step against it |
# | SGD | initialise, predict, loss, gradient, step, repeat, stop, on shuffled mini-batches |
# | epoch | one pass over the training data |
# | nonlinearity (ReLU) | what stops stacked linear layers collapsing into one |
# | ResNet | a deep convolutional net whose blocks add their input back to their output |
#
# Next: `02_ten_digits` does all of this for the ten digits, and `03_your_own_learner` writes a
# Learner of your own.
