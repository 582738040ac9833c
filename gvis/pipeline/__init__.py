"""The end-to-end pipeline: frames from a video, a frame folder or a dataset → detector → tracker →
results, overlay and track table, streamed frame by frame (``gvis track INPUT``)."""
