"""The auth service's logic; no web or RPC framework in here.

`accounts.Accounts` is what the faces call; `tokens`, `signing_keys`, `passwords`,
`users`, `bootstrap` and `revocations` are its parts.
"""
