"""MQTT topic names (docs/design.md, "MQTT topics"). The prefix is configurable."""
PREFIX = "gridwatch"


def _clean(part: str) -> str:
    # MQTT wildcards and separators inside an id would change the topic's meaning.
    return part.replace("/", "_").replace("+", "_").replace("#", "_")


def alert(edge_id: str, source_id: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/alerts/{_clean(edge_id)}/{_clean(source_id)}"


def alerts_filter(prefix: str = PREFIX) -> str:
    return f"{prefix}/alerts/+/+"


def edge_status(edge_id: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/status/{_clean(edge_id)}"


def camera_status(edge_id: str, camera_id: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/status/{_clean(edge_id)}/{_clean(camera_id)}"


def status_filter(prefix: str = PREFIX) -> str:
    return f"{prefix}/status/#"


def incident(grid_id: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/incidents/{_clean(grid_id)}"


def live_frame(edge_id: str, camera_id: str, prefix: str = PREFIX) -> str:
    """A camera's newest masked JPEG (QoS 0, not retained), only while someone watches it."""
    return f"{prefix}/live/{_clean(edge_id)}/{_clean(camera_id)}"


def live_frames_filter(prefix: str = PREFIX) -> str:
    return f"{prefix}/live/+/+"


def live_want(edge_id: str, camera_id: str, prefix: str = PREFIX) -> str:
    """The gateway's "someone is watching this camera" (QoS 0, not retained, every few seconds)."""
    return f"{live_frame(edge_id, camera_id, prefix)}/want"


def live_wants_filter(edge_id: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/live/{_clean(edge_id)}/+/want"


def shared(group: str, topic_filter: str) -> str:
    """An MQTT 5 shared subscription: each message goes to one member of the group."""
    return f"$share/{group}/{topic_filter}"


def matches(topic_filter: str, topic: str) -> bool:
    """Whether `topic` matches an MQTT filter (`+` one level, `#` the rest, as MQTT 3.1.1 section
    4.7 says; `sport/#` also matches `sport`). For the gateway's webhook topics, which never
    start with `$`."""
    f, t = topic_filter.split("/"), topic.split("/")
    for i, part in enumerate(f):
        if part == "#":
            return True
        if i >= len(t) or (part != "+" and part != t[i]):
            return False
    return len(f) == len(t)
