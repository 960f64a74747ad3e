"""Photos people send (a patrol report, a resolution photo): checked to be a real image under
the size limit, the GPS position read from its EXIF when there is one, and stored re-encoded
without any metadata (EXIF can carry the phone's model, the owner's name, the exact place and
time): only pixels leave for the media store. The orientation EXIF asks for is applied first."""
from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 50_000_000  # a decompression bomb is refused, not decoded
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
GPS_IFD = 0x8825


class PhotoError(ValueError):
    """Not an image we take: the reason is for the person who sent it."""


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes          # JPEG, no metadata
    content_type: str
    location: tuple[float, float] | None  # (lat, lon) from EXIF GPS


def clean_photo(data: bytes) -> CleanPhoto:
    if not data:
        raise PhotoError("the photo is empty")
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoError(f"the photo is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MiB")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in FORMATS:
                raise PhotoError(f"a photo must be JPEG, PNG or WebP, not {probe.format or 'unknown'}")
            if probe.width * probe.height > MAX_PIXELS:
                raise PhotoError(f"the photo has too many pixels ({probe.width}x{probe.height})")
            probe.verify()
        with Image.open(io.BytesIO(data)) as img:
            location = _gps(img)
            pixels = ImageOps.exif_transpose(img).convert("RGB")
            out = io.BytesIO()
            pixels.save(out, "JPEG", quality=88, optimize=True)  # no exif= argument: nothing but pixels
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise PhotoError(f"not an image we can read ({type(e).__name__})") from None
    return CleanPhoto(out.getvalue(), "image/jpeg", location)


def _gps(img: Image.Image) -> tuple[float, float] | None:
    try:
        gps = img.getexif().get_ifd(GPS_IFD)
    except Exception:  # noqa: BLE001 - broken EXIF: the photo still counts, without a position
        return None
    try:
        lat, lon = _degrees(gps[2]), _degrees(gps[4])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    lat = -lat if gps.get(1) == "S" else lat
    lon = -lon if gps.get(3) == "W" else lon
    return (lat, lon) if -90 <= lat <= 90 and -180 <= lon <= 180 else None


def _degrees(dms: tuple) -> float:
    d, m, s = (float(x) for x in dms)
    return d + m / 60 + s / 3600
