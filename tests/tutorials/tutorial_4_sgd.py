# The code of "Building a Simple MNIST Classifier (Part 2)" (MNIST_SAMPLE, 3s and 7s: the data set
# for SGD, weights, the loss, DataLoader), run on digitlab. Changes from the write-up are marked
# "curated:" (its web page lost the indentation of one-line functions and turned quotes curly).
# Run with: python tests/tutorials/notebook.py tests/tutorials/tutorial_4_sgd.py

# %%
from digitlab.book import *  # curated: was `from fastbook import *` and `from fastai.vision.all import *`
path = untar_data(URLs.MNIST_SAMPLE)

threes = (path/'train'/'3').ls().sorted()
sevens = (path/'train'/'7').ls().sorted()

seven_tensors = [tensor(Image.open(o)) for o in sevens]
three_tensors = [tensor(Image.open(o)) for o in threes]

stacked_sevens = torch.stack(seven_tensors).float()/255
stacked_threes = torch.stack(three_tensors).float()/255

valid_3_tens = torch.stack([tensor(Image.open(o)) for o in (path/'valid'/'3').ls()])
valid_3_tens = valid_3_tens.float()/255
valid_7_tens = torch.stack([tensor(Image.open(o)) for o in (path/'valid'/'7').ls()])
valid_7_tens = valid_7_tens.float()/255

# %%
train_x = torch.cat([stacked_threes, stacked_sevens]).view(-1, 28*28)

# %%
train_y = tensor([1]*len(threes) + [0]*len(sevens)).unsqueeze(1)
print(train_x.shape, train_y.shape)

# %%
dset = list(zip(train_x, train_y))
x, y = dset[0]
print(x.shape, y)

# %%
valid_x = torch.cat([valid_3_tens, valid_7_tens]).view(-1, 28*28)
valid_y = tensor([1]*len(valid_3_tens) + [0]*len(valid_7_tens)).unsqueeze(1)
valid_dset = list(zip(valid_x, valid_y))

# %%
def init_params(size, std=1.0):
    return (torch.randn(size)*std).requires_grad_()  # curated: indented
weights = init_params((28*28,1))
weights.shape

# %%
bias = init_params(1)

# %%
(train_x[0] * weights.T).sum() + bias

# %%
def linear1(xb):
    return xb@weights + bias  # curated: indented
preds = linear1(train_x)
preds

# %%
corrects = (preds>0.0).float() == train_y
corrects
corrects.float().mean().item()

# %%
def mnist_loss(predictions, targets):
    return torch.where(targets==1, 1-predictions, predictions).mean()  # curated: indented

# %%
def sigmoid(x):
    return 1/(1+torch.exp(-x))  # curated: indented

# %%
plot_function(torch.sigmoid, title='Sigmoid', min=-4, max=4)  # curated: straight quotes

# %%
def mnist_loss(predictions, targets):
    predictions = predictions.sigmoid()  # curated: indented
    return torch.where(targets==1, 1-predictions, predictions).mean()

# %%
coll = range(15)
dl = DataLoader(coll, batch_size=5, shuffle=True)
list(dl)

# %%
ds = L(enumerate(string.ascii_lowercase)) # An indexed alphabet dataset
dl = DataLoader(ds, batch_size=6, shuffle=True)
list(dl)
