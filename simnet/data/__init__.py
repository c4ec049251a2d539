"""Data: sources, the decode cache, splits, class-balanced batches and augmentation.

Nothing here knows about models or training.
"""

from simnet.data.augment import BatchAugment, to_input
from simnet.data.cache import Dataset, ImageSet, load_dataset
from simnet.data.images import decode_image
from simnet.data.sampler import ClassBalancedBatchSampler
from simnet.data.sources import Source, open_source

__all__ = [
    "BatchAugment",
    "ClassBalancedBatchSampler",
    "Dataset",
    "ImageSet",
    "Source",
    "decode_image",
    "load_dataset",
    "open_source",
    "to_input",
]
