"""inputs.py: the one check of images and labels, shared by the classifiers and the cnn recipe."""

import pytest
import torch

from digitlab.classifiers import inputs, make
from digitlab.classifiers.cnn import network, training
from digitlab.classifiers.cnn.config import CNNConfig
from digitlab.errors import DataError


def test_every_accepted_shape_and_dtype_gives_the_same_images():
    u8 = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    for x in (u8, u8.unsqueeze(1), u8.reshape(3, 784), u8.float() / 255):
        torch.testing.assert_close(inputs.as_images(x), u8.float() / 255)
    assert inputs.as_pixels(u8.reshape(3, 784)).dtype == torch.uint8  # the recipe keeps uint8 on the device


@pytest.mark.parametrize("images, labels, message", [
    (torch.zeros(4, 32, 32), torch.tensor([0, 1, 0, 1]), r"images must be \(N, 28, 28\), got \(4, 32, 32\); resize"),
    (torch.zeros(2, 28, 28, dtype=torch.int32), torch.tensor([0, 1]), r"uint8 \(0-255\) or float in \[0, 1\]"),
    (torch.zeros(4, 28, 28), torch.tensor([0, 1, 0]), "4 training images but 3 labels; give one label per image"),
])
def test_the_classifiers_and_the_recipe_refuse_alike(images, labels, message):
    config = CNNConfig(epochs=1, width=4)
    with pytest.raises(DataError, match=message):
        training.fit(network.build(config, 2), config, images, labels, progress=False)
    with pytest.raises(DataError, match=message.replace("training images", "images")):
        make("linear", epochs=1).fit(images, labels)


def test_float_images_outside_0_1_are_refused_with_the_fix():
    with pytest.raises(DataError, match="divide by 255"):
        inputs.as_images(torch.full((1, 28, 28), 2.0))
