# The code of the all-ten-digits write-up (full MNIST: pixel-similarity baseline, a linear model
# with three losses, a net with a sigmoid layer, resnet18), run on digitlab. Changes from the
# write-up are marked "curated:": its web page lost a few lines (the backward pass, zeroing the
# gradients, the cells that display results), and these are put back the way the book writes them.
# The last cell trains resnet18 for 4 epochs on 60,000 images: tagged [resnet], it is for a GPU or
# a long wait on a CPU.
# Run with: python tests/tutorials/notebook.py tests/tutorials/tutorial_1_ten_digits.py

# %%
from digitlab.book import *  # curated: was `from fastai.vision.all import *` and `from fastbook import *`

matplotlib.rc('image', cmap='Greys')

# %%
path = untar_data(URLs.MNIST)
Path.BASE_PATH = path  # curated: fastbook shows paths relative to the data folder
path.ls()

# %%
(path/'training').ls().sorted()  # curated: the write-up shows this listing without its code

# %%
def image_path_to_tensor(path):
    images_paths = path.ls()
    tensors = [tensor(Image.open(p)) for p in images_paths]
    return torch.stack(tensors).float()/255

# %%
stacked_tensors = [image_path_to_tensor(image_folder) for image_folder in (path/'training').ls().sorted()]

# %%
stacked_tensors[4].shape  # curated: shown without its code

# %%
image_means = [None] * 10
for digit, imgs_tensor in enumerate(stacked_tensors):
    mean_tensor = imgs_tensor.mean(0)
    image_means[digit] = mean_tensor

show_image(image_means[4]);  # curated: "this is how an average 4 looks"

# %%
def calculate_error(image, label):
    ideal_tensor = image_means[label]
    return ((image - ideal_tensor)**2).mean()

# %%
calculate_error(stacked_tensors[3][0], 3)

# %%
valid_stacked = [image_path_to_tensor(image_folder) for image_folder in (path/'testing').ls().sorted()]

# %%
def mnist_distance_mae(a,b): return (a-b).abs().mean((-1,-2))
def mnist_distance_mse(a,b): return torch.square((a-b)).mean((-1,-2))

# %%
mnist_distance_mae(valid_stacked[3], image_means[3]).shape

# %%
mnist_distance_mse(valid_stacked[3], image_means[3])

# %%
def analyze_digit(digit: str, candidate, distance_function):
    distances = torch.stack([distance_function(candidate, mean_tensor) for mean_tensor in image_means])
    lowest_distance = torch.argmin(distances, dim=0)
    return lowest_distance == digit

# %%
analyze_digit(4, stacked_tensors[3][113], mnist_distance_mae)

# %%
analyze_digit(3, valid_stacked[3], mnist_distance_mae).float().mean()

# %%
accuracy_mae = torch.stack([analyze_digit(digit, valid_stacked[digit], mnist_distance_mae).float().mean() for digit in range(10)])
accuracy_mae  # curated: shown without its code

# %%
accuracy_mse = torch.stack([analyze_digit(digit, valid_stacked[digit], mnist_distance_mse).float().mean() for digit in range(10)])
accuracy_mse  # curated: shown without its code

# %%
accuracy_mae.mean(), accuracy_mse.mean()  # curated: "the mean accuracies", shown without code

# %%
train_x = torch.cat([stacked_tensors[i] for i in range(10)]).view(-1, 28*28)

# %%
train_y = torch.cat([torch.stack([tensor(i)]*len(stacked_tensors[i])) for i in range(10)])
train_x.shape, train_y.shape  # curated: shown without its code

# %%
dataset = list(zip(train_x,train_y))

# %%
valid_x = torch.cat([valid_stacked[i] for i in range(10)]).view(-1, 28*28)
valid_y = torch.cat([torch.stack([tensor(i)]*len(valid_stacked[i])) for i in range(10)])
valid_x.shape, valid_y.shape  # curated: shown without its code

# %%
valid_dset = list(zip(valid_x,valid_y))

# %%
def init_params(size): return torch.randn(size).requires_grad_()

# %%
weights = init_params((28*28,10))

# %%
biases = init_params(10)

# %%
train_x[34000] @ weights + biases

# %%
def linear_model(x_batch):
    return x_batch @ weights + biases
predictions = linear_model(train_x[34000])
predictions

# %%
predictions = linear_model(train_x)
predictions.shape  # curated: shown without its code

# %%
(predictions.argmax(dim=1) == train_y).float().mean().item()

# %%
def mnist_loss(predictions, targets, nr_classes=10):
    predictions = predictions.sigmoid()
    mask = F.one_hot(targets, nr_classes)
    errors = ((mask-predictions) ** 2)
    return errors.mean()

# %%
def calc_grad(x_batch, y_batch, model, loss_fn):
    preds = model(x_batch)
    loss = loss_fn(preds, y_batch)
    loss.backward()  # curated: lost from the web page; without it there are no gradients

# %%
dl = DataLoader(dataset, batch_size=256,shuffle=True)
valid_dl = DataLoader(valid_dset, batch_size=256, shuffle=False)

# %%
def train_epoch(model, loss_fn, lr, params):
    for xb,yb in dl:
        calc_grad(xb, yb, model, loss_fn)
        for p in params:
            p.data -= p.grad * lr
            p.grad.zero_()  # curated: lost from the web page; gradients would pile up otherwise

# %%
def batch_accuracy(xb, yb):
    correct = (xb.argmax(axis=1) == yb).float().mean()
    return correct

# %%
def validate_epoch(model):
    accs = [batch_accuracy(model(xb), yb) for xb,yb in valid_dl]
    return round(torch.stack(accs).mean().item(), 4)

# %%
validate_epoch(linear_model)  # curated: "the accuracy of our randomly-initialized model"

# %%
accuracy = []
lr = 1.
# initializing random weights
weights = init_params((28*28,10))
# initializing random biases
biases = init_params(10)

params = weights,biases
# training an epoch
train_epoch(linear_model, mnist_loss, lr, params)
# validating results
validate_epoch(linear_model)  # curated: shown without its code

# %%
for i in range(40):
    train_epoch(linear_model, mnist_loss, lr, params)
    accuracy.append(validate_epoch(linear_model))  # curated: the write-up plots these
accuracy[-1]

# %%
def mnist_loss_softmax(predictions, targets, nr_classes=10):
    predictions = torch.softmax(predictions, axis=1)
    mask = F.one_hot(targets, nr_classes)
    errors = ((mask-predictions) ** 2)
    return errors.mean()

# %%
accuracy = []

lr = 1.
# initializing random weights
weights = init_params((28*28,10))
# initializing random biases
biases = init_params(10)

params = weights,biases
# training an epoch
train_epoch(linear_model, mnist_loss_softmax, lr, params)
# validating results
for i in range(40):
    train_epoch(linear_model, mnist_loss_softmax, lr, params)
    accuracy.append(validate_epoch(linear_model))  # curated: as above
accuracy[-1]

# %%
def cross_entropy_loss(preds, y):
    # apply softmax
    preds = torch.softmax(preds, axis=1)

    # get confidences for the correct class
    idx = len(preds)
    confidences = preds[range(idx), y]

    # calculate negative log likelihood and return its mean
    log_ll =  -torch.log(confidences)
    return log_ll.mean()

# %%
accuracy = []
lr = 1.
# initializing random weights
weights = init_params((28*28,10))
# initializing random biases
biases = init_params(10)

params = weights,biases
# training an epoch
train_epoch(linear_model, cross_entropy_loss, lr, params)
# validating results
validate_epoch(linear_model)  # curated: shown without its code

# %%
for i in range(40):
    train_epoch(linear_model, cross_entropy_loss, lr, params)
    accuracy.append(validate_epoch(linear_model))  # curated: as above
accuracy[-1]

# %%
w1 = init_params((28*28,64))
b1 = init_params(64)
w2 = init_params((64,10))
b2 = init_params(10)

def simple_neural_net(xb):
    res = xb@w1 + b1 # 1st linear layer
    res = torch.sigmoid(res) # 2nd non-linear layer
    res = res@w2 + b2 # 3rd linear layer
    return res

params = [w1,b1,w2,b2]
accuracy = []
lr = 1.

# training an epoch
train_epoch(simple_neural_net, cross_entropy_loss, lr, params)
# validating results
for i in range(40):
    train_epoch(simple_neural_net, cross_entropy_loss, lr, params)
    accuracy.append(validate_epoch(simple_neural_net))  # curated: as above
accuracy[-1]

# %% [resnet]
from digitlab.book import accuracy  # curated: the loops above reused the name `accuracy` for a list
dls = ImageDataLoaders.from_folder(path, train="training", valid="testing")
learn = cnn_learner(dls, resnet18, pretrained=False,
                    loss_func=F.cross_entropy, metrics=accuracy)
learn.fit_one_cycle(4, 0.1)
