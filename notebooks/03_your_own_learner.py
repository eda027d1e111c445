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
# # Further research 1: your own Learner
#
# The chapter's first further-research exercise: write a `Learner` from scratch, from the training
# loop the chapter builds. A worked answer: the loop is the chapter's (predict, loss, gradient,
# step, zero the gradients; then validate), wrapped in a class that holds the model, the data, the
# loss, the optimiser and a metric. Then the proof that it is the same thing: trained from the same
# starting weights on the same batches, it ends with exactly the weights digitlab's `Learner` ends
# with.
#
# Source: `03_your_own_learner.py` (Jupytext percent format); the `.ipynb` is generated from it.

# %%
from digitlab.book import *
import copy
torch.manual_seed(0); random.seed(0)

# %% [markdown]
# ## The data: 3s and 7s, as the chapter builds them

# %%
path = untar_data(URLs.MNIST_SAMPLE)

def stack(folder): return torch.stack([tensor(Image.open(o)) for o in folder.ls().sorted()]).float()/255

def xy(split):
    threes, sevens = stack(path/split/'3'), stack(path/split/'7')
    x = torch.cat([threes, sevens]).view(-1, 28*28)  # (N, 784)
    y = tensor([1]*len(threes) + [0]*len(sevens)).unsqueeze(1)  # (N, 1): 1 for a 3
    return x, y

train_x, train_y = xy('train')
valid_x, valid_y = xy('valid')
dls = DataLoaders(DataLoader((train_x, train_y), batch_size=256),
                  DataLoader((valid_x, valid_y), batch_size=256))
train_x.shape, valid_x.shape

# %%
def mnist_loss(predictions, targets):
    predictions = predictions.sigmoid()
    return torch.where(targets==1, 1-predictions, predictions).mean()

def batch_accuracy(xb, yb):
    preds = xb.sigmoid()
    correct = (preds>0.5) == yb
    return correct.float().mean()

# %% [markdown]
# ## The Learner
# `fit` is the chapter's `train_model`; `one_batch` is its `calc_grad` plus the optimiser's step.
# Validation figures are averaged over images, not over batches, so that a short last batch
# counts for what it holds.

# %%
class MyLearner:
    def __init__(self, dls, model, opt_func, loss_func, metric):
        self.dls, self.model, self.opt_func = dls, model, opt_func
        self.loss_func, self.metric = loss_func, metric

    def one_batch(self, xb, yb):
        loss = self.loss_func(self.model(xb), yb)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad()
        return loss.item()

    def validate(self):
        n, loss, metric = 0, 0., 0.
        with torch.no_grad():
            for xb,yb in self.dls.valid:
                preds = self.model(xb)
                loss += self.loss_func(preds, yb).item() * len(yb)
                metric += self.metric(preds, yb).item() * len(yb)
                n += len(yb)
        return loss/n, metric/n

    def fit(self, epochs, lr):
        self.opt = self.opt_func(self.model.parameters(), lr)
        print('epoch  train_loss  valid_loss  metric')
        for epoch in range(epochs):
            losses = [self.one_batch(xb, yb) for xb,yb in self.dls.train]
            valid_loss, metric = self.validate()
            print(f'{epoch:5}  {sum(losses)/len(losses):10.4f}  {valid_loss:10.4f}  {metric:.4f}')

# %%
start = nn.Linear(28*28,1)
mine = MyLearner(dls, copy.deepcopy(start), opt_func=SGD,
                 loss_func=mnist_loss, metric=batch_accuracy)
mine.fit(10, lr=1.)

# %% [markdown]
# ## The same as digitlab's Learner?
# Same starting weights, same batches in the same order, plain SGD: the weights must come out the
# same to the last bit of float32 rounding.

# %%
theirs = Learner(dls, copy.deepcopy(start), opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)
theirs.fit(10, lr=1.)

# %%
torch.testing.assert_close(mine.model.weight, theirs.model.weight)
torch.testing.assert_close(mine.model.bias, theirs.model.bias)
print('the same weights')

# %% [markdown]
# ## Adding callbacks
# The next step, as fastai's Learner takes it: small objects called at fixed points of the loop,
# here one that stops training once the metric passes a target.

# %%
class StopAt:
    def __init__(self, target): self.target = target
    def after_epoch(self, learn, metric):
        if metric >= self.target:
            print(f'stopping: the metric reached {metric:.4f}')
            return True

class MyLearnerWithCallbacks(MyLearner):
    def fit(self, epochs, lr, cbs=()):
        self.opt = self.opt_func(self.model.parameters(), lr)
        for epoch in range(epochs):
            for xb,yb in self.dls.train: self.one_batch(xb, yb)
            valid_loss, metric = self.validate()
            print(f'epoch {epoch}: valid_loss {valid_loss:.4f}, metric {metric:.4f}')
            if any(cb.after_epoch(self, metric) for cb in cbs): break

learn = MyLearnerWithCallbacks(dls, nn.Linear(28*28,1), opt_func=SGD,
                               loss_func=mnist_loss, metric=batch_accuracy)
learn.fit(20, lr=1., cbs=[StopAt(0.96)])
