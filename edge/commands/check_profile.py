"""`python -m edge check-profile FILE...`: validate camera profiles, naming file, field and reason."""
from __future__ import annotations

import argparse
import sys

from camera_profiles import ProfileError, load_profile


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="camera profile YAML files")


def main(args: argparse.Namespace) -> int:
    bad = 0
    for f in args.files:
        try:
            prof = load_profile(f)
        except ProfileError as e:
            bad += 1
            print(f"error: {e}", file=sys.stderr)
            continue
        src = "onvif" if prof.onvif else "url/file"
        print(f"ok: {f}: camera {prof.id} ({src}), {len(prof.zones)} zones, {len(prof.lines)} lines")
    return 1 if bad else 0
