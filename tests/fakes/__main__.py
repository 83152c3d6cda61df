"""Run the fake Bot API in its own process, e.g. for a benchmark: python -m tests.fakes --port 8081."""

from tests.fakes.bot_api import main

main()
