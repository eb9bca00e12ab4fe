"""`scigenbench app`: serve the SciGenBench Space (Gradio) locally."""

from __future__ import annotations

import argparse

HELP = "serve the Space: explore problems, generate with ImgCoder, score images, leaderboard (needs the app extra)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None, help="TCP port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--host", default=None,
                        help="interface to bind (default: $GRADIO_SERVER_NAME or 127.0.0.1; 0.0.0.0 to share)")


def run(args: argparse.Namespace) -> int:
    from scigenbench._optional import require

    require("gradio", extra="app", purpose="the Space (scigenbench app)")
    from scigenbench.app.app import main

    main(port=args.port, host=args.host)
    return 0
