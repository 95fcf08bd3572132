"""Lambda entry points: thin, each parses its event, calls the core and shapes the response.

Importing one under a Lambda runtime is a cold start: the garbage collector is paused for it
from here, before the handler module imports anything (``detector.startup``).
"""

from detector import startup

startup.pause()
