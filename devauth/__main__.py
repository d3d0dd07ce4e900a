"""python -m devauth: development keys and tokens for the local stack.

python -m devauth token USER [--ttl SECONDS]   print a user token (creates the keys if needed)
python -m devauth init                          create the keys only
python -m devauth serve [--port 8090] [--user dev-user]
                                                run the development authorization endpoint
"""

from __future__ import annotations

import argparse
import os
import sys

from devauth.keys import ensure_keys
from recorder_common import defaults

TTL_HELP = "lifetime in seconds (default 12 h; at most AUTH_MAX_TOKEN_LIFETIME_SECONDS, 24 h)"


def main() -> None:
    parser = argparse.ArgumentParser(prog="devauth", description="development keys and user tokens")
    parser.add_argument(
        "--dir",
        default=os.environ.get("DEV_AUTH_DIR", defaults.AUTH_DIR),
        help=f"where the keys live (default {defaults.AUTH_DIR}, the one ./dev run uses)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    token = sub.add_parser("token", help="print a bearer token for USER")
    token.add_argument("user")
    token.add_argument("--ttl", type=int, default=12 * 3600, help=TTL_HELP)
    sub.add_parser("init", help="create the key pairs and JWKS files if missing")
    serve = sub.add_parser("serve", help="run the development authorization endpoint (code + PKCE)")
    serve.add_argument("--port", type=int, default=int(os.environ.get("DEVAUTH_PORT", defaults.DEVAUTH_PORT)))
    serve.add_argument(
        "--user",
        default=os.environ.get("DEVAUTH_USER", "dev-user"),
        help="the user every sign-in is for (default dev-user)",
    )
    args = parser.parse_args()
    keys = ensure_keys(args.dir)
    if args.command == "token":
        try:
            print(keys.mint(args.user, args.ttl))
        except Exception as exc:  # an invalid user id or lifetime: say why, no traceback
            sys.exit(f"devauth: {getattr(exc, 'message', exc)}")
    elif args.command == "serve":
        from devauth.authorize import AuthorizationServer

        server = AuthorizationServer(keys, user=args.user, port=args.port)
        print(f"devauth: authorization endpoint on {server.url} (user {args.user})", flush=True)
        try:
            server.httpd.serve_forever()
        except KeyboardInterrupt:
            pass
    else:
        print(f"devauth: keys in {keys.folder}")


if __name__ == "__main__":
    main()
