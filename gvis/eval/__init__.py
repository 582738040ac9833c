"""Evaluation: the YouTube-VIS video mAP, the results format and submissions."""
