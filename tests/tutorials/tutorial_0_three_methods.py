# The code cells of the three-methods write-up (MNIST_TINY, 3s and 7s: averages, a linear model, a
# small net with ReLU), run on digitlab. Changes from the write-up are marked "curated:".
# Run with: python tests/tutorials/notebook.py tests/tutorials/tutorial_0_three_methods.py

# %%
from digitlab.book import *  # curated: was `import torch`, and a wget + tar of mnist_tiny.tgz

path = untar_data(URLs.MNIST_TINY)  # curated: was Path("data/mnist_tiny/") after the download

# %%

print(list(path.iterdir()))
threes = sorted((path / "train" / "3").iterdir())
sevens = sorted((path / "train" / "7").iterdir())
threes[1]

# %%
from PIL import Image

im3_path = threes[2]
im3 = Image.open(im3_path)
im3

# %%
from numpy import array

im3_array = array(im3)
im3_array[15:25, 4:10]

# %%
import torch

im3_t = torch.as_tensor(im3_array)
im3_t[15:25, 4:10]

# %%
# convert images to tensors arrays
seven_tensors = [torch.as_tensor(array(Image.open(o))) for o in sevens]
three_tensors = [torch.as_tensor(array(Image.open(o))) for o in threes]

# convert tensor array to individual tensors
stacked_sevens = torch.stack(seven_tensors).float() / 255
stacked_threes = torch.stack(three_tensors).float() / 255
stacked_threes.shape

# %%
mean3 = stacked_threes.mean(0)
mean7 = stacked_sevens.mean(0)


# curated: the write-up converts with torchvision's T.ToPILImage(), which digitlab does not need
def tensor_image(t):
    return Image.fromarray((t * 255).byte().numpy())


# Convert tensor to PIL Image (scale values to 0-255 and convert to uint8)
mean3_pil = tensor_image(mean3)
mean3_pil

# %%
sample = stacked_threes[32]
tensor_image(sample)

# %%
dist_3_abs = (sample - mean3).abs().mean()
dist_3_sqr = ((sample - mean3) ** 2).mean().sqrt()
dist_3_abs, dist_3_sqr

# %%
dist_7_abs = (sample - mean7).abs().mean()
dist_7_sqr = ((sample - mean7) ** 2).mean().sqrt()
dist_7_abs, dist_7_sqr

# %%
# use built in loss functions
(
    torch.nn.functional.l1_loss(sample.float(), mean3),
    torch.nn.functional.mse_loss(sample, mean3),
)

# %%
print("Is the sample a 3? ", dist_3_sqr > dist_7_sqr)

# %%
valid_threes = sorted((path / "valid" / "3").iterdir())
valid_sevens = sorted((path / "valid" / "7").iterdir())
valid_seven_tensors = [torch.as_tensor(array(Image.open(o))) for o in valid_sevens]
valid_three_tensors = [torch.as_tensor(array(Image.open(o))) for o in valid_threes]

# convert tensor array to individual tensors
valid_sevens_stacked = torch.stack(valid_seven_tensors).float() / 255
valid_three_stacked = torch.stack(valid_three_tensors).float() / 255

valid_three_stacked.shape, valid_sevens_stacked.shape


# %%
# loss function
def mnist_l1_loss(a, b):
    return (a - b).abs().mean((-1, -2))


mnist_l1_loss(sample, mean3)

# %%
valid_three_distance = mnist_l1_loss(valid_three_stacked, mean3)

valid_three_distance.shape

# %%
# leverage broadcasting to calculate the distance between samples and the idea 3
(valid_three_stacked - mean3).shape


# %%
def is_3(x):
    return mnist_l1_loss(x, mean3) < mnist_l1_loss(x, mean7)


accuracy_3s = is_3(valid_three_stacked).float().mean()
accuracy_7s = (1 - is_3(valid_sevens_stacked).float()).mean()

accuracy_3s, accuracy_7s, (accuracy_3s + accuracy_7s) / 2

# %%
# concat all images into a tensor, flatten each image into an array
train_x = torch.cat([stacked_threes, stacked_sevens]).view(-1, 28 * 28)
train_x.shape, stacked_threes.shape, stacked_sevens.shape

# %%
train_y = torch.tensor([1] * len(threes) + [0] * len(sevens)).unsqueeze(1)
train_y.shape

# %%
dset = list(zip(train_x, train_y))
x, y = dset[0]
x.shape, y

# %%
valid_x = torch.cat([valid_three_stacked, valid_sevens_stacked]).view(-1, 28 * 28)
valid_y = torch.tensor(
    [1] * len(valid_three_stacked) + [0] * len(valid_sevens_stacked)
).unsqueeze(1)
# zip them together
valid_dset = list(zip(valid_x, valid_y))


# %%
def init_params(size, std=1.0):
    return (torch.randn(size) * std).requires_grad_()


weights = init_params((28 * 28, 1))
bias = init_params(1)

# %%
(train_x[0] * weights.T).sum() + bias


# %%
def linear1(xb):
    return xb @ weights + bias


preds = linear1(train_x)

# %%
corrects = (preds > 0.0).float() == train_y
corrects.float().mean().item()

# %%
with torch.no_grad():
    weights[0] *= 1.01


preds = linear1(train_x)
((preds > 0.0).float() == train_y).float().mean().item()

# %%
trgts = torch.tensor([1, 0, 1, 1])
prds = torch.tensor([0.9, 0.4, 0.2, 1])
torch.where(trgts == 1, 1 - prds, prds)


# %%
def mnist_loss_v1(predictions, targets):
    return torch.where(targets == 1, 1 - predictions, predictions).mean()


# %%
def sigmoid(x):
    return 1 / (1 + torch.exp(-x))


def mnist_loss(predictions, targets):
    predictions = predictions.sigmoid()
    return torch.where(targets == 1, 1 - predictions, predictions).mean()


# %%
from torch.utils.data import DataLoader

coll = range(15)
dl = DataLoader(coll, batch_size=5, shuffle=True)
list(dl)

# %%
import string

ds = list(enumerate(string.ascii_lowercase))
dl = DataLoader(ds, batch_size=6, shuffle=True)
ds[:3], list(dl)

# %%
weights = init_params((28 * 28, 1))
bias = init_params(1)


dl = DataLoader(dset, batch_size=256)
valid_dl = DataLoader(valid_dset, batch_size=256)
xb, yb = next(iter(dl))
xb.shape, yb.shape


# %%
def calc_grad(xb, yb, model):
    preds = model(xb)
    loss = mnist_loss(preds, yb)
    loss.backward()


# %%
batch = train_x[:4]
calc_grad(batch, train_y[:4], linear1)
print(weights.grad.mean(), bias.grad)
calc_grad(batch, train_y[:4], linear1)
print(weights.grad.mean(), bias.grad)


# %%
# train all samples in the dataloader
def train_epoch(model, lr, params):
    for xb, yb in dl:
        calc_grad(xb, yb, model)
        for p in params:
            p.data -= p.grad * lr
            p.grad.zero_()


# calculate accuracy in a batch
def batch_accuracy(xb, yb):
    preds = xb.sigmoid()
    correct = (preds > 0.5) == yb
    return correct.float().mean()


# calculate accuracy for all batches in the validation dataloader
def validate_epoch(model):
    accs = [batch_accuracy(model(xb), yb) for xb, yb in valid_dl]
    return round(torch.stack(accs).mean().item(), 4)

validate_epoch(linear1)

# %%
lr = 0.3
params = weights, bias
train_epoch(linear1, lr, params)
validate_epoch(linear1)

# %%
for i in range(20):
    train_epoch(linear1, lr, params)
    print(validate_epoch(linear1), end=" ")


# %%
class BasicOptim:
    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def step(self, *args, **kwargs):
        for p in self.params:
            p.data -= p.grad.data * self.lr

    def zero_grad(self, *args, **kwargs):
        for p in self.params:
            p.grad = None


# %%
linear_model = torch.nn.Linear(28 * 28, 1)
opt = BasicOptim(linear_model.parameters(), lr)


# %%
def train_epoch(model):
    for xb, yb in dl:
        calc_grad(xb, yb, model)
        opt.step()
        opt.zero_grad()


def train_model(model, epochs):
    for i in range(epochs):
        train_epoch(model)
        print(validate_epoch(model), end=" ")


train_model(linear_model, 20)

# %%
w1 = init_params((28 * 28, 30))
b1 = init_params(30)
w2 = init_params((30, 1))
b2 = init_params(1)


def simple_net(xb):
    res = xb @ w1 + b1
    res = res.max(torch.tensor(0.0))
    res = res @ w2 + b2
    return res

import matplotlib.pyplot as plt


def plot_function(f, tx=None, ty=None, title=None, min=-2, max=2, figsize=(6, 4)):
    x = torch.linspace(min, max, 100)
    fig, ax = plt.subplots(figsize=figsize)
    ax.plot(x, f(x))
    if tx is not None:
        ax.set_xlabel(tx)
    if ty is not None:
        ax.set_ylabel(ty)
    if title is not None:
        ax.set_title(title)


# %%
plot_function(torch.nn.functional.relu)

# %%
neural_net_example = torch.nn.Sequential(
    torch.nn.Linear(28 * 28, 30), torch.nn.ReLU(), torch.nn.Linear(30, 1)
)

opt = BasicOptim(neural_net_example.parameters(), lr=0.1)


train_model(neural_net_example, 20)
