"""Training: the Learner loop and its callbacks, optimisers, seeding, devices, CUDA graphs, DDP, clutter."""
