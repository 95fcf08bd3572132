"""The detection pipeline, in the order it runs: image bytes in, detections out.

``decode`` (bytes → RGB, limits, EXIF) → ``letterbox`` (model input + its inverse) →
``engine`` (the onnxruntime session, and the steps below in order) → ``families`` (one
adapter per export layout, read with ``modelgraph``) → ``postprocess`` (filter, NMS, map
back) → ``detections`` (the result type) → ``annotate`` (draw them). Nothing here knows
about AWS, HTTP or the environment.
"""
