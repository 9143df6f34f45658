"""python3 -m tileproxy.auth: make the stored forms of secrets, and check a policy file.

    python3 -m tileproxy.auth hash-password      # asks twice, prints $scrypt$...
    python3 -m tileproxy.auth new-key            # prints a new API key and its sha256: digest
    python3 -m tileproxy.auth hash-key           # reads a key from stdin, prints its digest
    python3 -m tileproxy.auth check policy.yaml  # loads the policy, prints its users
"""

from __future__ import annotations

import argparse
import getpass
import sys

from ..config.errors import ConfigError
from .policy import load_policy
from .secrets import hash_api_key, hash_password, new_api_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tileproxy.auth", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("hash-password", help="print the $scrypt$ hash of a password")
    sub.add_parser("new-key", help="print a new random API key and its sha256: digest")
    sub.add_parser("hash-key", help="print the sha256: digest of an API key read from stdin")
    check = sub.add_parser("check", help="load a policy file and list its users")
    check.add_argument("policy")
    args = parser.parse_args(argv)
    if args.command == "hash-password":
        password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        if sys.stdin.isatty() and getpass.getpass("again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 1
        print(hash_password(password))
    elif args.command == "new-key":
        key = new_api_key()
        print(f"key:    {key}\ndigest: {hash_api_key(key)}")
    elif args.command == "hash-key":
        print(hash_api_key(sys.stdin.readline().strip()))
    else:
        try:
            policy = load_policy(args.policy)
        except ConfigError as ex:
            print(f"error: {ex}", file=sys.stderr)
            return 1
        for user in [*policy.users.values(), *([policy.anonymous] if policy.anonymous else [])]:
            services = ", ".join(sorted(user.rights)) or "nothing"
            print(f"{user.name}: {services}{' (limited_to)' if user.area else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
