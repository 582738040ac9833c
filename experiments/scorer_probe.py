"""Where does a track lose the class of the detection that started it? Linear probes along the tracker.

The paper's scorer (``scoring_learned_head``: class logits = Linear(h)) must read the class from the track
embedding ``h``. This script measures how much of the *initialising detection's* class (the argmax of the
detector's foreground class scores) a linear classifier can read at every stage of the path from that
detection to ``h``::

    python experiments/scorer_probe.py --checkpoint RUN/model.pt --data WORK/train [--videos 100] [--json]

For every track the checkpoint starts while tracking the videos (one video at a time, as ``gvis
eval-tracker``), the features probed are:

- ``input``: the detection node's input features (class logits, box, appearance columns);
- ``block k (<name>)``: the detection node after GNN block k (the features the gate reads for a new track);
- ``gate``: the new track's embedding ``h`` after the recurrent gate (what the scorer reads at creation);
- ``h, +N frames``: the same track's ``h`` N frames later, when it is still alive (what the scorer reads then).

A multinomial logistic regression per stage is fitted on the tracks of the first half of the videos and
scored on the second half (held-out accuracy); ``chance`` is the most frequent class of the fitted half, and
``scorer`` the checkpoint's own class head (argmax of its foreground class logits) on the same tracks. A
stage where the probe falls towards chance is where the class is lost; a probe well above the scorer means
the class is in ``h`` but the head has not learnt to read it (a budget effect). Nothing here trains the
tracker; a smoke test of it runs on a tiny checkpoint (``tests/train/test_scorer_probe.py``).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

#: Frames after creation at which a track's ``h`` is probed again.
LATER_FRAMES = 5


@dataclass
class ProbeRows:
    """Per stage, the feature rows ``[K, F]`` of the tracks and their labels ``[K]`` (class column 1..C),
    with the video of each row and the scorer's own prediction."""

    features: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    labels: dict[str, list[int]] = field(default_factory=dict)
    videos: dict[str, list[int]] = field(default_factory=dict)
    scorer: dict[str, list[int]] = field(default_factory=dict)

    def add(self, stage: str, features: torch.Tensor, label: int, video: int, predicted: int | None = None) -> None:
        self.features.setdefault(stage, []).append(features)
        self.labels.setdefault(stage, []).append(label)
        self.videos.setdefault(stage, []).append(video)
        if predicted is not None:
            self.scorer.setdefault(stage, []).append(predicted)


def collect(model, categories: list[dict], videos: list[tuple[int, list]]) -> ProbeRows:
    """Track every video and record the probed features of each new track (see the module docstring)."""
    from gvis.tracker.online import BatchedLearnedTracker

    blocks = list(model.gnn.blocks)
    det: list[torch.Tensor] = [torch.zeros(0)] * (len(blocks) + 1)  # the detection nodes before/after each block
    hooks = [blocks[0].register_forward_pre_hook(lambda module, args: det.__setitem__(0, args[0].det))]
    hooks += [block.register_forward_hook(lambda module, args, out, k=k: det.__setitem__(k + 1, out.det))
              for k, block in enumerate(blocks)]
    stage_names = ["input", *(f"block {k + 1} ({type(b).__name__})" for k, b in enumerate(blocks)), "gate"]
    later = f"h, +{LATER_FRAMES} frames"
    rows = ProbeRows()
    tracker = BatchedLearnedTracker(model, categories, num_videos=1, with_masks=False)
    try:
        with torch.no_grad():
            for video_id, frames in videos:
                tracker.reset()
                pending: dict[int, tuple[int, int]] = {}  # track id -> (label, frame to probe again)
                for t, detections in enumerate(frames):
                    frame, _ = tracker.prepare([detections])
                    tracker.state, out = model.step(tracker.state, frame)
                    h = tracker.state.h
                    predicted = (out.class_logits[:, 1:].argmax(-1) + 1).tolist()
                    for row in out.is_new.nonzero().flatten().tolist():
                        n = int(out.assigned_det[row])
                        label = int(frame.logits[n, 1:].argmax()) + 1
                        stages = [*(features[n] for features in det), h[row]]
                        for name, features in zip(stage_names, stages):
                            rows.add(name, features.float(), label, video_id, predicted[row] if name == "gate" else None)
                        pending[int(out.track_id[row])] = (label, t + LATER_FRAMES)
                    for row, track_id in enumerate(out.track_id.tolist()):
                        if track_id in pending and pending[track_id][1] == t:
                            rows.add(later, h[row].float(), pending.pop(track_id)[0], video_id, predicted[row])
    finally:
        for hook in hooks:
            hook.remove()
    return rows


def probe_accuracy(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                   num_classes: int, l2: float = 1e-3, iterations: int = 200) -> float:
    """Held-out accuracy of a multinomial logistic regression (features standardised on the fitted rows)."""
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    torch.manual_seed(0)
    weight = torch.zeros(train_x.shape[1], num_classes + 1, requires_grad=True)
    bias = torch.zeros(num_classes + 1, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(train_x @ weight + bias, train_y) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return float(((test_x @ weight + bias).argmax(1) == test_y).float().mean())


def probe(rows: ProbeRows, num_classes: int) -> list[dict]:
    """Per stage: rows fitted and held out, held-out probe accuracy, chance and the scorer's accuracy."""
    all_videos = sorted({v for videos in rows.videos.values() for v in videos})
    fitted = set(all_videos[: len(all_videos) // 2])
    table = []
    for stage, features in rows.features.items():
        x, y = torch.stack(features), torch.tensor(rows.labels[stage])
        train = torch.tensor([v in fitted for v in rows.videos[stage]])
        result = {"stage": stage, "fitted": int(train.sum()), "held_out": int((~train).sum()),
                  "probe": None, "chance": None, "scorer": None}
        if result["fitted"] and result["held_out"]:
            result["probe"] = probe_accuracy(x[train], y[train], x[~train], y[~train], num_classes)
            majority = int(torch.bincount(y[train]).argmax())
            result["chance"] = float((y[~train] == majority).float().mean())
            if stage in rows.scorer:
                result["scorer"] = float((torch.tensor(rows.scorer[stage])[~train] == y[~train]).float().mean())
        table.append(result)
    return table


def markdown(table: list[dict], checkpoint: Path, data: Path, videos: int) -> str:
    def cell(value: float | None) -> str:
        return "–" if value is None else f"{100 * value:.0f} %"

    lines = [f"Linear probes of the initialising detection's class: `{checkpoint}` on {videos} videos of `{data}` "
             "(fitted on the first half of the videos, accuracy on the second half).", "",
             "| stage | tracks fitted / held out | probe | chance | the scorer's head |", "|---|---|---|---|---|"]
    lines += [f"| {r['stage']} | {r['fitted']} / {r['held_out']} | {cell(r['probe'])} | {cell(r['chance'])} "
              f"| {cell(r['scorer'])} |" for r in table]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a trained tracker (a run's model.pt)")
    parser.add_argument("--data", type=Path, required=True, help="a dataset folder, e.g. WORK/train")
    parser.add_argument("--detections", type=Path,
                        help="its detections (.jsonl or the .pt cache; default DATA/dets.pt, as gvis compare makes)")
    parser.add_argument("--videos", type=int, default=100, help="videos tracked (default 100)")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args(argv)

    from gvis.errors import GvisError
    from gvis.train.config import SourceConfig
    from gvis.train.data import TrainingVideos
    from gvis.tracker.online import load_model

    try:
        model = load_model(args.checkpoint)
        source = SourceConfig(str(args.data), str(args.detections or args.data / "dets.pt"), args.videos)
        videos = TrainingVideos.from_config(source, model.config.filtering)
        rows = collect(model, videos.categories, [(v.id, videos.detections(v.id)) for v in videos.videos])
    except GvisError as exc:
        print(f"scorer_probe: error: {exc}", file=sys.stderr)
        return 2
    table = probe(rows, model.num_classes)
    if args.json:
        print(json.dumps({"checkpoint": str(args.checkpoint), "data": str(args.data), "videos": len(videos.videos),
                          "stages": table}))
    else:
        print(markdown(table, args.checkpoint, args.data, len(videos.videos)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
