import sys

from scigenbench.scripts.cli import main

sys.exit(main())
