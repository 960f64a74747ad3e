"""Evidence media (clips, snapshots): upload from the edges, storage, retention, access with audit, export."""
