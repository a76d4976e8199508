"""``python -m requests_challenge``: the same as the ``requests-challenge`` command."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
