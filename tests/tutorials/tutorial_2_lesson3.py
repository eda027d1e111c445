# The code cells of the "Practical Deep Learning - Lesson 3" write-up (MNIST_SAMPLE, 3s and 7s:
# pixel similarity, a hand-written training loop, BasicOptim, SGD, Learner, a two-layer net,
# resnet18), run on digitlab. Changes from the write-up are marked "curated:".
# Run with: python tests/tutorials/notebook.py tests/tutorials/tutorial_2_lesson3.py

# %%
from digitlab.book import *  # curated: the write-up imports fastai's (from fastai.vision.all import *)

# %%
URLs.MNIST_SAMPLE

# %%
path = untar_data(URLs.MNIST_SAMPLE)
path

# %%
Path.BASE_PATH = path
path

# %%
path.ls()

# %%
(path/'train').ls()

# %%
(path/'train/7').ls()

# %%
(path/'train/3').ls()

# %%
total_dataset_images = len((path/'train/7').ls()) + len((path/'train/3').ls())
total_dataset_images

# %%
img_path = path/'train'/'7'/os.listdir(path/'train'/'7')[0]
img = PILImage.create(img_path)
img.show(figsize=(2,2));

# %%
digit_dir = path/'train'/'7'
sampled_files = random.sample(digit_dir.ls(), 9)
sampled_files

# %%
imgs = [PILImage.create(f) for f in sampled_files]
show_images(imgs, nrows=3, figsize=(5,5))

# %%
digit_dir = path/'train'/'3'
sampled_files = random.sample(digit_dir.ls(), 9)
imgs = [PILImage.create(f) for f in sampled_files]
show_images(imgs, nrows=3, figsize=(5,5))

# %%
threes = (path/'train'/'3').ls().sorted()
sevens = (path/'train'/'7').ls().sorted()
threes[1]

# %%
im3_path = threes[1]
im3 = Image.open(im3_path)
im3.shape

# %%
array(im3)[4:10,4:10]

# %%
tensor(im3)[4:10, 4:10]

# %%
im3_t = tensor(im3)
df = pd.DataFrame(im3_t[4:15,4:22])
df.style.set_properties(**{'font-size':'6pt'}).background_gradient('Greys')

# %%
tensor(Image.open(threes[1]))[4:10, 4:10]

# %%
tensor(Image.open(threes[1])).shape

# %%
three_tensors = [tensor(Image.open(o)) for o in threes]

# %%
len(threes), len(three_tensors)

# %%
three_tensors[1][4:10, 4:10]

# %%
seven_tensors = [tensor(Image.open(o)) for o in sevens]
len(sevens), len(seven_tensors)

# %%
matplotlib.rc('image', cmap='Greys')
show_images([three_tensors[1], seven_tensors[1]], figsize=(3,3));

# %%
stacked_threes = torch.stack(three_tensors).float()/255
stacked_sevens = torch.stack(seven_tensors).float()/255
stacked_threes.shape, stacked_sevens.shape

# %%
mean3 = stacked_threes.mean(0)
mean7 = stacked_sevens.mean(0)
show_images([mean3, mean7], figsize=(3,3));

# %%
a_3 = stacked_threes[1]
show_image(a_3);

# %%
dist_3_abs = (a_3 - mean3).abs().mean()
dist_3_sqr = ((a_3 - mean3)**2).mean().sqrt()
dist_3_abs,dist_3_sqr

# %%
dist_7_abs = (a_3 - mean7).abs().mean()
dist_7_sqr = ((a_3 - mean7)**2).mean().sqrt()
dist_7_abs,dist_7_sqr

# %%
F.l1_loss(a_3.float(),mean7), F.mse_loss(a_3,mean7).sqrt()

# %%
path.ls()

# %%
valid_3_tens = torch.stack([tensor(Image.open(o)) for o in (path/'valid'/'3').ls()])
valid_7_tens = torch.stack([tensor(Image.open(o)) for o in (path/'valid'/'7').ls()])
valid_3_tens.shape, valid_7_tens.shape

# %%
def mnist_distance(a,b): return (a-b).abs().mean((-1,-2))
mnist_distance(a_3, mean3)

# %%
def is_3(x): return mnist_distance(x, mean3) < mnist_distance(x, mean7)
is_3(a_3)

# %%
# The write-up measures these on the validation pixels as stored (0-255), not scaled to [0, 1].
accuracy_3s = is_3(valid_3_tens).float().mean()
accuracy_7s = 1 - is_3(valid_7_tens).float().mean()
overall_acc = (accuracy_3s + accuracy_7s)/2
accuracy_3s, accuracy_7s, overall_acc

# %%
# curated: the book scales the validation images to [0, 1] as it did the training images; the
# training cells below need that too (nn.Linear cannot take uint8). Scaled, the accuracies are the
# book's.
valid_3_tens = valid_3_tens.float()/255
valid_7_tens = valid_7_tens.float()/255
accuracy_3s = is_3(valid_3_tens).float().mean()
accuracy_7s = 1 - is_3(valid_7_tens).float().mean()
accuracy_3s, accuracy_7s, (accuracy_3s + accuracy_7s)/2

# %%
stacked_threes.shape, stacked_sevens.shape

# %%
torch.cat([stacked_threes, stacked_sevens]).shape

# %%
train_x = torch.cat([stacked_threes, stacked_sevens]).view(-1, 28*28)
train_x.shape

# %%
train_y = tensor([1]*len(threes) + [0]*len(sevens)).unsqueeze(1)
train_y.shape

# %%
dset = list(zip(train_x,train_y))
x,y = dset[0]
x.shape,y

# %%
x[265:270], y # small part of the image data and the label

# %%
valid_x = torch.cat([valid_3_tens, valid_7_tens]).view(-1, 28*28)
valid_y = tensor([1]*len(valid_3_tens) + [0]*len(valid_7_tens)).unsqueeze(1)
valid_dset = list(zip(valid_x,valid_y))

# %%
def init_params(size, std=1.0): return (torch.randn(size)*std).requires_grad_()
weights = init_params((28*28,1))
weights.shape

# %%
weights[0: 10]

# %%
bias = init_params(1)
bias

# %%
train_x[0].shape, weights.shape, weights.T.shape

# %%
(train_x[0]*weights.T).sum() + bias

# %%
train_x[0] @ weights + bias

# %%
def linear1(xb): return xb.float() @ weights + bias
preds = linear1(train_x)
preds

# %%
len(preds), preds.shape, train_y.shape

# %%
corrects = (preds>0.0).float() == train_y
corrects.shape, corrects

# %%
corrects.float().mean().item()

# %%
def mnist_loss(predictions, targets):
    predictions = predictions.sigmoid()
    return torch.where(targets==1, 1-predictions, predictions).mean()

# %%
coll = range(15)
dl = DataLoader(coll, batch_size=5, shuffle=True)
list(dl)

# %%
ds = L(enumerate(string.ascii_lowercase))
ds

# %%
dl = DataLoader(ds, batch_size=6, shuffle=True)
list(dl)

# %%
weights = init_params((28*28,1))
bias = init_params(1)

# %%
(dset[0][0][125:135],  dset[0][1])

# %%
dl = DataLoader(dset, batch_size=256)
valid_dl = DataLoader(valid_dset, batch_size=256)
xb,yb = first(dl)
xb.shape,yb.shape

# %%
train_x.shape

# %%
def calc_grad(xb, yb, model):
    preds = model(xb)
    loss = mnist_loss(preds, yb)
    loss.backward()

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
def validate_epoch(model):
    accs = [batch_accuracy(model(xb.float()), yb) for xb,yb in valid_dl]
    return round(torch.stack(accs).mean().item(), 4)

# %%
lr = 1.
params = weights,bias
train_epoch(linear1, lr, params)
validate_epoch(linear1)

# %%
for i in range(20):
    train_epoch(linear1, lr, params)
    print(validate_epoch(linear1), end=' ')

# %%
linear_model = nn.Linear(28*28,1)
linear_model

# %%
w,b = linear_model.parameters()
w.shape,b.shape

# %%
class BasicOptim:
    def __init__(self,params,lr): self.params,self.lr = list(params),lr

    def step(self, *args, **kwargs):
        for p in self.params: p.data -= p.grad.data * self.lr

    def zero_grad(self, *args, **kwargs):
        for p in self.params: p.grad = None

# %%
opt = BasicOptim(linear_model.parameters(), lr)

# %%
def train_epoch(model):
    for xb,yb in dl:
        calc_grad(xb, yb, model)
        opt.step()
        opt.zero_grad()

# %%
def train_model(model, epochs):
    for i in range(epochs):
        train_epoch(model)
        print(validate_epoch(model), end=' ')

# %%
train_model(linear_model, 20)

# %%
linear_model = nn.Linear(28*28,1)
opt = SGD(linear_model.parameters(), lr)
train_model(linear_model, 20)

# %%
dls = DataLoaders(dl, valid_dl)

# %%
learn = Learner(dls, nn.Linear(28*28,1), opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)
learn.fit(10, lr=lr)

# %%
simple_net = nn.Sequential(
    nn.Linear(28*28,30),
    nn.ReLU(),
    nn.Linear(30,1)
)

# %%
learn = Learner(dls, simple_net, opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)
learn.fit(40, 0.1)

# %%
plt.plot(L(learn.recorder.values).itemgot(2));

# %% [slow]
dls = ImageDataLoaders.from_folder(path)
learn = vision_learner(dls, resnet18, pretrained=False,
                    loss_func=F.cross_entropy, metrics=accuracy)
learn.fit_one_cycle(1, 0.1)
