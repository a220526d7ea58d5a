"""The CLI's stderr console: messages stay on one line at any terminal width, so scripts can grep them."""

from rich.console import Console

err = Console(stderr=True, soft_wrap=True)
