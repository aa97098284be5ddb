"""`python -m signfed`: the same as the `signfed` command."""

import sys

from signfed.cli import main

sys.exit(main())
