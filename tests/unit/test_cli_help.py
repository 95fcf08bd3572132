"""The command line explains itself: a version, a description for users, help everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from detector import __version__
from detector.commands import build_parser
from tests.cli import detector


def parsers(
    parser: argparse.ArgumentParser, name: str = "detector"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, subparser in action.choices.items():
                yield from parsers(subparser, f"{name} {command}")


def test_detector_version_prints_the_package_version():
    done = detector("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"detector {__version__}"


def test_the_top_level_help_is_written_for_users_and_names_the_exit_codes():
    shown = detector("--help").stdout
    assert shown.startswith("usage: detector")
    assert "YOLO object detection" in shown
    assert "exit status: 0" in shown
    for developer_word in ("register", "GROUPS", "boundary", "module"):
        assert developer_word not in shown


def test_every_command_and_every_argument_has_help():
    missing = []
    for name, parser in parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {choice.dest for choice in action._choices_actions if choice.help}
                missing += [
                    f"{name} {command}" for command in action.choices if command not in helped
                ]
            elif not action.help:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def shows_its_default(action: argparse.Action) -> bool:
    default = action.default
    if not action.option_strings or default in (None, argparse.SUPPRESS, []) or default is False:
        return True  # nothing worth showing: a positional, a flag, an option that is unset
    return "%(default)" in (action.help or "") or str(default) in (action.help or "")


def test_every_default_is_shown_in_the_help():
    hidden = [
        f"{name} {action.option_strings[-1]}"
        for name, parser in parsers(build_parser())
        for action in parser._actions
        if not shows_its_default(action)
    ]
    assert hidden == []
