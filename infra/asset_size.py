"""`python -m infra.asset_size build/lambda`: the Lambda asset's unzipped and zipped size.

Lambda's limit is 250 MB unzipped (code and layers together); the zip is what CDK uploads.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024


def sizes(asset: Path) -> tuple[int, int]:
    """(unzipped bytes, zipped bytes at deflate level 6, as CDK zips an asset directory)."""
    files = sorted(path for path in asset.rglob("*") if path.is_file())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in files:
            archive.write(path, path.relative_to(asset))
    return sum(path.stat().st_size for path in files), buffer.tell()


def main(argv: list[str]) -> int:
    asset = Path(argv[0] if argv else "build/lambda")
    unzipped, zipped = sizes(asset)
    sys.stdout.write(
        f"{asset}: {unzipped / 2**20:.1f} MiB unzipped, {zipped / 2**20:.1f} MiB zipped "
        f"(Lambda's limit: 250 MiB unzipped)\n"
    )
    return 0 if unzipped < LAMBDA_UNZIPPED_LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
