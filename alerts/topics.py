"""MQTT topic names (DESIGN.md, "MQTT topics"). The prefix is configurable."""
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


def shared(group: str, topic_filter: str) -> str:
    """An MQTT 5 shared subscription: each message goes to one member of the group."""
    return f"$share/{group}/{topic_filter}"
