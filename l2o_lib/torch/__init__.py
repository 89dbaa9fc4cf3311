"""Torch code the chapters share: networks, the training loop, (de)serialization of weights."""
