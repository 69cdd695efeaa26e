"""`switchboard gateways add|auth` options for the credentials an upstream requires.

A secret is never taken on the command line (shell history, `ps`): each option names
the environment variable holding it, or `-` to read it from stdin (one line each, in
the order the options are given).
"""

from __future__ import annotations

import argparse
import os
import sys


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "upstream credentials (secrets from environment variables, or - for stdin)"
    )
    group.add_argument("--bearer-env", metavar="VAR", help="send `Authorization: Bearer $VAR`")
    group.add_argument("--basic", metavar="USER:VAR", help="HTTP Basic as USER with the password in $VAR")
    group.add_argument(
        "--header",
        action="append",
        metavar="NAME:VAR",
        help="send header NAME with the value in $VAR; repeat",
    )
    group.add_argument(
        "--oauth2-token-url", metavar="URL", help="OAuth 2 client credentials: the token endpoint"
    )
    group.add_argument("--oauth2-client-id", metavar="ID")
    group.add_argument("--oauth2-secret-env", metavar="VAR", help="the client secret's variable")
    group.add_argument("--oauth2-scope", metavar="SCOPE")
    group.add_argument("--oauth2-audience", metavar="AUDIENCE")


def auth_from(args: argparse.Namespace) -> dict | None:
    """The `auth` object of the request body, or None when no credential option is given.

    Exits with a message (naming variables, never values) when one is incomplete."""
    chosen = [
        name
        for name, given in (
            ("--bearer-env", args.bearer_env),
            ("--basic", args.basic),
            ("--header", args.header),
            ("--oauth2-*", args.oauth2_token_url or args.oauth2_client_id or args.oauth2_secret_env),
        )
        if given
    ]
    if len(chosen) > 1:
        raise SystemExit(f"error: give one kind of credentials, not {' and '.join(chosen)}")
    if args.bearer_env:
        return {"type": "bearer", "token": _secret(args.bearer_env)}
    if args.basic:
        user, var = _pair(args.basic, "--basic", "USER:VAR")
        return {"type": "basic", "username": user, "password": _secret(var)}
    if args.header:
        pairs = [_pair(entry, "--header", "NAME:VAR") for entry in args.header]
        return {"type": "headers", "headers": {name: _secret(var) for name, var in pairs}}
    if chosen:
        if not (args.oauth2_token_url and args.oauth2_client_id and args.oauth2_secret_env):
            raise SystemExit(
                "error: OAuth 2 needs --oauth2-token-url, --oauth2-client-id and --oauth2-secret-env"
            )
        auth = {
            "type": "oauth2",
            "token_url": args.oauth2_token_url,
            "client_id": args.oauth2_client_id,
            "client_secret": _secret(args.oauth2_secret_env),
        }
        if args.oauth2_scope:
            auth["scope"] = args.oauth2_scope
        if args.oauth2_audience:
            auth["audience"] = args.oauth2_audience
        return auth
    return None


def _pair(entry: str, option: str, shape: str) -> tuple[str, str]:
    first, sep, var = entry.rpartition(":")
    if not sep or not first or not var:
        raise SystemExit(f"error: {option} takes {shape}")
    return first, var


def _secret(var: str) -> str:
    if var == "-":
        value = sys.stdin.readline().rstrip("\r\n")
        where = "stdin"
    else:
        value = os.environ.get(var, "")
        where = f"${var}"
    if not value:
        raise SystemExit(f"error: {where} is empty or not set")
    return value
