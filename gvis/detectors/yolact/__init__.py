"""gvis's YOLACT-style instance segmenter (docs/model.md §6): one concept per module.

``anchors`` → ``box_coding`` → ``backbone`` → ``fpn`` → ``protonet`` / ``prediction_head`` → ``model``
(:class:`DetectorConfig`, :class:`YolactModel`) → ``masks`` (assembly, crop) → ``fast_nms`` → ``postprocess``
→ ``detector`` (:class:`YolactDetector`, the ``yolact`` entry of ``DETECTORS``); ``losses`` for stage-1
training (``gvis.train_detector``); ``checkpoint`` for the weights file format. The appearance network is
``gvis.detectors.appearance``. Import the modules directly; this package imports nothing heavy.
"""
