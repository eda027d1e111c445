"""`digitlab export-site DIR`: the page without a server (web/site.py)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export-site",
        help="write a static page that runs the models in the browser, no server needed",
        description="Write into DIR one static page: the drawing pad and every method's answer with its "
        "probabilities, the models run in the browser by a copy of ONNX Runtime Web kept in DIR. It opens "
        "from file:// or any static host, fetches nothing from elsewhere and works offline. DIR must be "
        "new, empty or an earlier export (replaced whole).",
    )
    parser.add_argument("dir", metavar="DIR", help="the folder to write the page into")
    parser.add_argument("--models", metavar="FOLDER",
                        help="a folder of saved models, as `digitlab compare --out` writes (default: the four "
                        "models that ship with digitlab)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from digitlab.web.site import export_site

    out = export_site(args.dir, args.models)
    print(f"wrote {out}/index.html: open it in a browser (file:// or any static host)")
    return 0
