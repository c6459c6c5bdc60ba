"""The base of every error that is the user's to fix (bad input, bad config, missing files).

Commands print such an error as one line and exit non-zero; anything else is a bug and keeps its
traceback. It lives here, at the start of the data flow, so every later package can use it.
"""


class UserError(Exception):
    """A problem with the user's input, files or settings; the message says what to do."""
