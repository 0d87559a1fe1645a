"""`python -m tfbert.cli ...`: the same as the `tfbert` command."""

import sys

from tfbert.cli.main import main

sys.exit(main())
