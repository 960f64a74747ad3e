"""Evidence media: clips and snapshots uploaded by the edges, inline snapshots and photos the
gateway receives itself. In: bytes; out: files in one layout (`storage.MediaStore`) with their
`media` rows (`service`), retention by age and size, orphan sweep, access rules, evidence ZIPs.
No HTTP here: the routes are gateway.api.media."""
