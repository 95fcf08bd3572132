import sys

from detector.commands import main

sys.exit(main())
