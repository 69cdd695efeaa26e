"""Errors of `switchboard stack`, each with the exit status the command ends with.

StackError                  exit 1
├── MissingBinaries         exit 2: a program the stack runs is not installed
├── StackDirError           exit 2: the stack dir cannot be used (e.g. unreachable
│                           by the account the daemons run as)
└── StackStartError         exit 1: a process exited or never became ready
"""

from __future__ import annotations

from collections.abc import Mapping


class StackError(Exception):
    exit_status = 1


class MissingBinaries(StackError):
    exit_status = 2

    def __init__(self, packages_of: Mapping[str, str], install_hint: str) -> None:
        self.names = list(packages_of)
        listed = ", ".join(f"{name} (Debian package {package})" for name, package in packages_of.items())
        super().__init__(f"not installed or not found: {listed}. Install them with: {install_hint}")


class StackDirError(StackError):
    exit_status = 2


class StackStartError(StackError):
    pass
