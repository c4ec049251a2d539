"""Errors a user can cause and fix (bad path, bad image, bad config).

The command line prints a :class:`SimNetError` as one line and exits non-zero; any other
exception is a bug and keeps its traceback.
"""


class SimNetError(Exception):
    """A problem with the user's input, described in one line."""


class ImageError(SimNetError):
    """An image file that cannot be read or decoded."""


class NotAnImage(ImageError):
    """Bytes that no image format recognises."""


class ImageTooLarge(ImageError):
    """An image with more pixels than allowed (a decompression bomb, perhaps)."""
