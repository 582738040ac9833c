"""gvis: learned video instance segmentation tracking with recurrent graph neural networks."""

__version__ = "0.1.0"
