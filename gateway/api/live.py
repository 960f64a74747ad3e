"""`GET /api/cameras/{id}/live.jpg`: the camera's newest live frame, masked on the edge.

Seen by whoever may see the camera's grid (as its snapshots are: the same roles, the same
per-role blur). A request is the want: the gateway asks the edge for frames (gateway.mqtt.live)
and, when it holds none fresh, waits up to WAIT_S for one before saying why there is none:
202 `live_waiting` (the camera streams, a frame is on its way) or 404 `camera_offline`.
"""
from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from common.mqtt import MqttSettings
from gateway.api.auth import READ_ROLES, Principal, require_role
from gateway.api.errors import error
from gateway.api.media import _blur_for
from gateway.db.models import Camera, Edge
from gateway.mqtt.live import LiveFeed

router = APIRouter(tags=["media"])
FRESH_S = 3.0   # a frame older than this is not "live" any more
WAIT_S = 2.0    # how long a request waits for a first frame
POLL_S = 0.1


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.router.on_shutdown.append(lambda: _stop_feed(app))


def _stop_feed(app: FastAPI) -> None:
    feed = getattr(app.state, "live_feed", None)
    if feed is not None:
        app.state.live_feed = None
        feed.stop()


def live_feed(app: FastAPI) -> LiveFeed:
    """The app's feed, connected on first use: a gateway nobody watches holds no live link."""
    feed = getattr(app.state, "live_feed", None)
    if feed is None:
        s = app.state.settings
        feed = app.state.live_feed = LiveFeed(
            MqttSettings(url=s.mqtt_url, username=s.mqtt_username, password=s.mqtt_password,
                         prefix=s.mqtt_prefix, protocol=s.mqtt_protocol), s.mqtt_client_id).start()
    return feed


def _error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return error(status, code, message, headers={"Cache-Control": "no-store", **headers})


def _camera(db, camera_id: str, principal: Principal) -> tuple[Camera | None, bool]:
    """The camera if the principal may see it, and whether its edge is online."""
    with db.session() as s:
        cam = s.get(Camera, camera_id)
        if cam is None or not principal.visible(cam.grid_id):
            return None, False
        edge = s.get(Edge, cam.edge_id) if cam.edge_id else None
        s.expunge(cam)
        return cam, edge is not None and edge.state == "online"


@router.get("/api/cameras/{camera_id}/live.jpg", summary="A camera's newest live frame (masked on the edge)",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}}},
                                                202: {"description": "waiting for the camera's first frame"},
                                                404: {"description": "unknown camera, or camera offline"}})
async def live_jpg(camera_id: str, request: Request, principal: Principal = Depends(require_role(*READ_ROLES))):
    cam, edge_online = await run_in_threadpool(_camera, request.app.state.db, camera_id, principal)
    if cam is None:  # not found and not visible look alike: nothing is revealed of other grids
        return _error(404, "not_found", f"camera {camera_id} not found")
    if not cam.edge_id:
        return _error(404, "camera_offline", "camera offline: no edge has reported it")
    feed = live_feed(request.app)
    offline = cam.state != "streaming" or not edge_online
    deadline = time.monotonic() + (0.0 if offline else WAIT_S)
    while True:
        feed.want(cam.edge_id, cam.id)   # rate-limited inside; repeated until connected
        frame = feed.latest(cam.edge_id, cam.id)
        if frame is not None and time.monotonic() - frame[1] <= FRESH_S:
            break
        if time.monotonic() >= deadline:
            if offline:
                return _error(404, "camera_offline", f"camera offline (camera {cam.state}, "
                                                     f"edge {'online' if edge_online else 'offline'})")
            return JSONResponse({"state": "waiting", "message": "waiting for the camera"}, status_code=202,
                                headers={"Cache-Control": "no-store", "Retry-After": "1"})
        await asyncio.sleep(POLL_S)
    jpeg, received = frame
    blur = _blur_for(request, principal)
    if blur:
        jpeg = await run_in_threadpool(_blurred, jpeg, blur)
    return Response(jpeg, media_type="image/jpeg",
                    headers={"Cache-Control": "no-store", "X-Frame-Age": f"{time.monotonic() - received:.1f}"})


def _blurred(jpeg: bytes, level: int) -> bytes:
    import cv2
    import numpy as np

    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return jpeg
    k = level | 1
    return cv2.imencode(".jpg", cv2.GaussianBlur(img, (k, k), 0), [cv2.IMWRITE_JPEG_QUALITY, 70])[1].tobytes()
