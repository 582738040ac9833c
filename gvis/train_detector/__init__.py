"""Stage-1 training of the YOLACT-style detector on single frames (``gvis train-detector``) and its
image-level mask AP (``gvis eval-detector``). The detector itself is :mod:`gvis.detectors.yolact`; the loop
is :mod:`gvis.engine`'s; stage 2 (the appearance network trained behind the frozen detector) is the
tracker's training, :mod:`gvis.train.stage2`."""
