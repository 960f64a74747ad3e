"""Notification channels as the devices page shows them: configured, waiting, failing.
Only names, kinds and delivery state: a channel's URL, keys and addresses never leave the gateway."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from gateway.api.auth import Principal, require_role
from gateway.api.errors import ERROR_RESPONSES
from gateway.outbox.channels import parse_channels
from gateway.outbox.deliveries import channel_status

__all__ = ["router", "channel_status", "parse_channels"]

router = APIRouter(prefix="/api", tags=["notifications"], responses=ERROR_RESPONSES)


@router.get("/notification-channels", summary="Each notification channel's deliveries: waiting, failing, last error")
def notification_channels(request: Request, principal: Principal = Depends(require_role("admin", "operator"))) -> dict:
    channels = parse_channels(request.app.state.settings.notifications)
    with request.app.state.db.session() as s:
        items: list[dict[str, Any]] = channel_status(s, channels)
    return {"items": items, "total": len(items)}
