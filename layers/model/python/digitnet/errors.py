"""What preprocessing raises: InputError (a ValueError) and one kind per answer the API
gives, so callers tell a client's mistake from a server's without reading messages."""


class InputError(ValueError):
    """The input can't be turned into a digit; the message says why."""


class EmptyDrawingError(InputError):
    """No ink: report it rather than guess a digit."""


class NoDigitError(InputError):
    """Ink, but in no shape a digit has: a speck, a solid blob, a solid bar, or ink
    everywhere."""


class ImageDecodeError(InputError):
    """Not a still PNG/JPEG/WebP/GIF image, or a damaged one."""


class ImageTooLargeError(InputError):
    """More pixels than allowed, or a decompression bomb."""
