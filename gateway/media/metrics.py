"""Prometheus counters of the media side (served by the gateway's /metrics)."""
from prometheus_client import Counter

UPLOADS = Counter("gridwatch_media_uploads_total", "Media upload requests by outcome",
                  ["outcome"])  # chunk | complete | hash_mismatch | storage_full | refused
UPLOAD_BYTES = Counter("gridwatch_media_upload_bytes_total", "Media bytes stored from uploads")
VIEWS = Counter("gridwatch_media_views_total", "Media views and downloads by outcome", ["outcome"])  # allowed | denied
REMOVED = Counter("gridwatch_media_removed_total", "Media removed by retention, by rule", ["reason"])
