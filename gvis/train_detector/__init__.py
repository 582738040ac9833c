"""Stage-1 training of the YOLACT-style detector on single frames (``gvis train-detector``), its image-level
mask AP (``gvis eval-detector``), and the stage-2 wrapper that trains the appearance network behind the
frozen detector (docs/model.md §5). The detector itself is :mod:`gvis.detectors.yolact`; this package holds only
what training needs."""
