"""Lambda entry points: thin, each parses its event, calls the core and shapes the response."""
