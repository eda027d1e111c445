"""Re-create src/digitlab/web/vendor/onnxruntime-web/ from the npm package: what `digitlab export-site`
copies into a static page so that it runs the models in the browser with nothing fetched from elsewhere.

    python tools/vendor_ort.py [--version 1.31.1] [--tarball onnxruntime-web-1.31.1.tgz]

Without --tarball it runs `npm pack onnxruntime-web@VERSION` in a temporary folder (npm's own
registry and cache). Only the three files the page needs are kept, each xz-compressed (the 14.8 MB
WebAssembly binary is 2.3 MB so): the classic-script API (ort.wasm.min.js), the glue module it
imports (ort-wasm-simd-threaded.mjs) and the binary. NOTICE names the version, the package and each
file's SHA-256 as it came; LICENSE is ONNX Runtime's MIT licence (the npm package declares MIT in
package.json and carries no licence file of its own).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "onnxruntime-web"
VERSION = "1.31.1"
FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
OUT = Path(__file__).resolve().parents[1] / "src" / "digitlab" / "web" / "vendor" / PACKAGE

LICENSE = """MIT License

Copyright (c) 2018 - present Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def packed(version: str, folder: Path) -> Path:
    """`npm pack PACKAGE@version` into `folder`: the tarball's path."""
    done = subprocess.run(["npm", "pack", f"{PACKAGE}@{version}"], cwd=folder, check=True,
                          capture_output=True, text=True)
    return folder / done.stdout.strip().splitlines()[-1]


def vendor(tarball: Path, out: Path = OUT) -> None:
    with tarfile.open(tarball) as archive:
        manifest = json.load(archive.extractfile("package/package.json"))
        if manifest["name"] != PACKAGE or manifest.get("license") != "MIT":
            raise SystemExit(f"{tarball}: not {PACKAGE} under the MIT licence ({manifest['name']}, {manifest.get('license')})")
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.xz"):
            old.unlink()
        sums = []
        for name in FILES:
            data = archive.extractfile(f"package/dist/{name}").read()
            (out / f"{name}.xz").write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
            sums.append(f"  {hashlib.sha256(data).hexdigest()}  {name} ({len(data):,} bytes)")
    (out / "LICENSE").write_text(LICENSE)
    (out / "NOTICE").write_text(
        f"ONNX Runtime Web {manifest['version']}: files from the npm package {PACKAGE}@{manifest['version']}\n"
        f"(dist/), each xz-compressed here and written out as it came by `digitlab export-site`.\n"
        f"Licence: MIT (package.json's \"license\"; LICENSE beside this file is ONNX Runtime's).\n"
        f"Copyright (c) Microsoft Corporation. Re-created by tools/vendor_ort.py.\n\n"
        f"SHA-256 of each file as it came:\n" + "\n".join(sums) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=VERSION, help=f"the package's version (default: {VERSION})")
    parser.add_argument("--tarball", type=Path, help="an `npm pack` tarball already fetched (default: npm pack it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        vendor(args.tarball or packed(args.version, Path(work)))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
