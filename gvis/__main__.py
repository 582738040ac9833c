import sys

from gvis.cli import main

sys.exit(main())
