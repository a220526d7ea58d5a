"""One exit-code table for every command (the README repeats it)."""

OK = 0
INTERNAL_FAILURE = 1
USAGE = 2
MEDIA_REJECTED = 3
BAD_INPUT = 4
NOT_FOUND = 5
