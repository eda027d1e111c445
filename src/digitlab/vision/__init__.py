"""Reading people's images: decoding, turning them into MNIST's form, cleaning, deskewing, splitting."""
