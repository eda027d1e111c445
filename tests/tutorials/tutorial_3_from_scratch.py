# The code cells of the "Neural Network Foundations (Part 1)" write-up (MNIST_TINY, 3s and 7s: a
# linear model and a two-layer net trained by hand), run on digitlab. Changes from the write-up are
# marked "curated:".
# Run with: python tests/tutorials/notebook.py tests/tutorials/tutorial_3_from_scratch.py

# %%
from digitlab.book import *  # curated: was `from fastai.vision.all import *` and fastai.data.external
from PIL import Image
torch.manual_seed(100)

# %%
# This command downloads the MNIST_TINY dataset and returns the path where it was downloaded
path = untar_data(URLs.MNIST_TINY)

# This takes that path from above, and get the path for the threes and the sevens
threes = (path/'train'/'3').ls().sorted()
sevens = (path/'train'/'7').ls().sorted()

# %%
im3 = Image.open(threes[1])
im3

# %%
tensor(im3).shape

# %%
pd.DataFrame(tensor(im3)).loc[3:24,6:20].style.set_properties(**{'font-size':'6pt'}).background_gradient('Greys')

# %%
def init_params(size, std=1.0): return (torch.randn(size)*std).requires_grad_()

w = init_params((28*28,1))
b = init_params(1)

# %%
max(w)

# %%
# open each image and convert them to a tensor
threes_t = [tensor(Image.open(o)) for o in threes]
sevens_t = [tensor(Image.open(o)) for o in sevens]

# Get list of tensors and "stack" them.  Also dividing by 255 so all values are between 0 and 1
threes_s = torch.stack(threes_t).float()/255
sevens_s = torch.stack(sevens_t).float()/255

# Verify max and min pixel values
torch.min(threes_s), torch.max(threes_s), torch.min(sevens_s), torch.max(sevens_s)

# %%
show_image(threes_s.mean(0))

# %%
# combine our threes and sevens into 1 matrix.  Convert Rank 3 matrix to rank 2.
x = torch.cat([threes_s, sevens_s]).view(-1, 28*28)

# Set my y, or dependent variable matrix.  A three will be 1, and seven will be 0.  So we will be prediction 0 or 1.
y = tensor([1]*len(threes) + [0]*len(sevens)).unsqueeze(1)

# Combine by xs and ys into 1 dataset for convenience.
dset = list(zip(x,y))
x_0,y_0 = dset[0]
x_0.shape,y_0

# %%
w.shape,x_0.shape,b.shape,y_0.shape

# %%
print((x@w+b).shape)
(x@w+b)[1:10]

# %%
valid_3_tens = torch.stack([tensor(Image.open(o)) for o in (path/'valid'/'3').ls()])
valid_3_tens = valid_3_tens.float()/255
valid_7_tens = torch.stack([tensor(Image.open(o)) for o in (path/'valid'/'7').ls()])
valid_7_tens = valid_7_tens.float()/255
valid_3_tens.shape,valid_7_tens.shape
valid_x = torch.cat([valid_3_tens, valid_7_tens]).view(-1, 28*28)
valid_y = tensor([1]*len(valid_3_tens) + [0]*len(valid_7_tens)).unsqueeze(1)
valid_dset = list(zip(valid_x,valid_y))

# %%
def mnist_loss(predictions, targets):

    # make all prediction between 0 and 1
    predictions = predictions.sigmoid()

    # Difference between predictions and target
    return torch.where(targets==1, 1-predictions, predictions).mean()

# %%
# Here is the function to minimize xw + b
def linear1(xb): return xb@weights + bias

# Here is how we will initialize paramaters.  This is just giving me random numbers.
def init_params(size, std=1.0): return (torch.randn(size)*std).requires_grad_()

# %%
dl = DataLoader(dset, batch_size=256, shuffle=True)
valid_dl = DataLoader(valid_dset, batch_size=256)

# %%
xb,yb = first(dl)
xb.shape,yb.shape

# %%
weights = init_params((28*28,1))
bias = init_params(1)

# %%
preds = linear1(xb)
preds.shape, preds[:5]

# %%
loss = mnist_loss(preds, yb)
loss

# %%
loss.backward()
weights.grad.shape,weights.grad.mean(),bias.grad

# %%
def calc_grad(xb, yb, model):
    preds = model(xb)
    loss = mnist_loss(preds, yb)
    loss.backward()

# %%
calc_grad(xb, yb, linear1)
weights.grad.mean(),bias.grad

# %%
weights.grad.zero_()
bias.grad.zero_();

# %%
def train_epoch(model, lr, params):
    for xb,yb in dl:
        calc_grad(xb, yb, model)
        for p in params:
            p.data -= p.grad*lr
            p.grad.zero_()

# %%
def batch_accuracy(xb, yb):
    preds = xb.sigmoid()
    correct = (preds>0.5) == yb
    return correct.float().mean()

# %%
batch_accuracy(linear1(xb), yb)

# %%
def validate_epoch(model):
    accs = [batch_accuracy(model(xb), yb) for xb,yb in valid_dl]
    return round(torch.stack(accs).mean().item(), 4)

# %%
validate_epoch(linear1)

# %%
params = weights,bias
lr = 1.

for i in range(20):
    train_epoch(linear1, lr, params)
    print(f"Epoch {i} accuracy: {validate_epoch(linear1)}")

# %%
# initialize random weights.
w1 = init_params((28*28,30))
b1 = init_params(30)
w2 = init_params((30,1))
b2 = init_params(1)

# %%
# Here's a simple Neural Network.
# This can have more layers by duplicating the patten seen below, this is just the simplest model.
def simple_net(xb):
    res = xb@w1 + b1 #Linear
    res = res.max(tensor(0.0)) #ReLu
    res = res@w2 + b2 #Linear
    return res

# %%
w1 = init_params((28*28,30))
b1 = init_params(30)
w2 = init_params((30,1))
b2 = init_params(1)

# %%
params = w1,b1,w2,b2
lr = 1

for i in range(20):
    train_epoch(simple_net, lr, params)
    print(f"Epoch {i} accuracy: {validate_epoch(simple_net)}")

# %%
x.shape,w1.shape,b1.shape,w2.shape,b2.shape
