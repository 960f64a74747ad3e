"""A camera, from pixels to alerts. In: an RTSP/ONVIF stream or a file (`capture`, `filesource`),
newest frame only. Out: alerts (`pipeline`: privacy masks, downscale, the detectors in
edge.detect, snapshot), event clips (`clips`), and the camera status; `worker` runs one camera
per thread."""
