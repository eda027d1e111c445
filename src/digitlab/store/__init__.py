"""What lands on disk: atomic files, checkpoints and their schema."""
