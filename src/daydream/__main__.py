import sys

from daydream.cli import main

sys.exit(main())
