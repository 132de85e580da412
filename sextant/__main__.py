import sys

from sextant.cli.main import main

sys.exit(main())
