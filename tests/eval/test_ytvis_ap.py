"""The YouTube-VIS stats on cases small enough to work out by hand.

Notation in the comments: ``tp``/``fp`` are cumulative counts in score order, ``rc``/``pr`` recall and
precision, "env" the monotone precision envelope. AP at one IoU threshold is the mean of the envelope
read at the 101 recall points 0, 0.01, ..., 1 (0 past the last recall reached).
"""
from __future__ import annotations

import numpy as np
import pytest

from gvis.eval.ytvis_ap import STAT_NAMES, evaluate, ties_in_random_order


def expect(stats: dict, **expected: float) -> None:
    """Every stat given in ``expected`` (others unchecked) to 1e-12."""
    for name, value in expected.items():
        assert stats[name] == pytest.approx(value, abs=1e-12), (name, stats[name], value)


def square(masks, y: int, x: int, size: int = 2, height: int = 4, width: int = 4):
    return masks.rect(height, width, y, y + size, x, x + size)


def test_perfect_prediction(vis_case, masks):
    case = vis_case().video(1, frames=2)
    case.instance(1, [square(masks, 0, 0)] * 2).predict(1, [square(masks, 0, 0)] * 2, score=0.7)
    stats = case.evaluate()
    assert list(stats) == list(STAT_NAMES)
    # One tiny object: only the "small" range has ground truth; medium/large are -1 as in the official code.
    expect(stats, AP=1, AP50=1, AP75=1, APs=1, APm=-1, APl=-1, AR1=1, AR10=1, AR100=1, ARs=1, ARm=-1, ARl=-1)


def test_prediction_absent_on_frames_where_the_gt_is_present(vis_case, masks):
    # GT: 4 px in both frames. Prediction: the same 4 px in frame 0, nothing in frame 1.
    # Video IoU = (4 + 0) / (4 + 4) = 0.5: a match at IoU 0.50 only, so AP = (1 + 9 * 0) / 10.
    case = vis_case().video(1, frames=2)
    case.instance(1, [square(masks, 0, 0)] * 2).predict(1, [square(masks, 0, 0), None], score=0.9)
    expect(case.evaluate(), AP=0.1, AP50=1, AP75=0, APs=0.1, AR1=0.1, AR10=0.1, AR100=0.1, ARs=0.1)


def test_frames_without_masks_in_both_do_not_count(vis_case, masks):
    # Frame 1 is empty in both: IoU = (4 + 4) / (4 + 4 + 0) = 1 even though the GT is absent there.
    case = vis_case().video(1, frames=3)
    case.instance(1, [square(masks, 0, 0), None, square(masks, 2, 2)])
    case.predict(1, [square(masks, 0, 0), None, square(masks, 2, 2)], score=0.5)
    expect(case.evaluate(), AP=1, AR100=1)


def test_video_without_ground_truth(vis_case, masks):
    # Video 2 has no GT; its prediction (score 0.9) is a false positive ahead of video 1's true one:
    # tp [0, 1], fp [1, 1], rc [0, 1], pr [0, 0.5], env 0.5 at every recall point -> AP 0.5.
    case = vis_case().video(1, frames=1).video(2, frames=1)
    case.instance(1, [square(masks, 0, 0)])
    case.predict(1, [square(masks, 0, 0)], score=0.8).predict(2, [square(masks, 0, 0)], score=0.9)
    expect(case.evaluate(), AP=0.5, AP50=0.5, AP75=0.5, APs=0.5, AR1=1, AR10=1, AR100=1, APm=-1)


def test_duplicate_predictions(vis_case, masks):
    # Two GTs; two identical predictions of the first one. The copy finds its GT taken -> FP.
    # tp [1, 1], fp [0, 1], rc [0.5, 0.5], env [1, 0.5]: precision 1 up to recall 0.5 (51 points).
    case = vis_case().video(1, frames=1)
    case.instance(1, [square(masks, 0, 0)]).instance(1, [square(masks, 2, 2)])
    case.predict(1, [square(masks, 0, 0)], score=0.9).predict(1, [square(masks, 0, 0)], score=0.8)
    expect(case.evaluate(), AP=51 / 101, AP50=51 / 101, AP75=51 / 101, AR1=0.5, AR10=0.5, AR100=0.5)


def test_score_ties_across_videos_follow_video_id(vis_case, masks):
    # Equal scores: the official stable sort keeps videos in increasing id, whatever the file order.
    # Video 1's false positive comes first: tp [0, 1], fp [1, 1], rc [0, 0.5], env 0.5 up to recall 0.5.
    case = vis_case().video(1, frames=1).video(2, frames=1)
    case.instance(1, [square(masks, 0, 0)]).instance(2, [square(masks, 0, 0)])
    case.predict(2, [square(masks, 0, 0)], score=0.5)   # true positive, first in the file
    case.predict(1, [square(masks, 2, 2)], score=0.5)   # false positive
    expect(case.evaluate(), AP=0.5 * 51 / 101, AR100=0.5)


def test_score_ties_within_a_video_follow_file_order(vis_case, masks):
    # Within a video, ties keep file order: FP then TP -> env 0.5 everywhere; and the one detection
    # kept for maxDets=1 is the FP, so AR1 = 0.
    case = vis_case().video(1, frames=1)
    case.instance(1, [square(masks, 0, 0)])
    case.predict(1, [square(masks, 2, 2)], score=0.5).predict(1, [square(masks, 0, 0)], score=0.5)
    expect(case.evaluate(), AP=0.5, AR1=0, AR10=1, AR100=1)
    case.results.reverse()  # TP first now
    expect(case.evaluate(), AP=1, AR1=1)


def test_all_three_area_ranges(vis_case, masks):
    # Disjoint 2x2 masks on a 4x6 frame. The ranges use the GT's "areas" field (as OVIS stores box
    # areas there), not the mask: a is small (100), b medium (20000), c large (70000). Predictions take
    # their area from the mask (4 px, small): fp (0.95, hits nothing), pa = a (0.9), pb = b (0.8).
    case = vis_case().video(1, frames=1, height=4, width=6)
    a, b, c, fp = (masks.rect(4, 6, y, y + 2, x, x + 2) for y, x in ((0, 0), (2, 0), (0, 4), (2, 4)))
    case.instance(1, [a], areas=[100]).instance(1, [b], areas=[20000]).instance(1, [c], areas=[70000])
    case.predict(1, [fp], score=0.95).predict(1, [a], score=0.9).predict(1, [b], score=0.8)
    expect(
        case.evaluate(),
        # all: tp [0,1,2], fp [1,1,1], rc [0,1/3,2/3], env 2/3 up to recall 2/3 (67 points).
        AP=67 / 101 * 2 / 3, AR1=0, AR10=2 / 3, AR100=2 / 3,
        # small: only a counts; pb matched ignored b -> ignored; fp is small -> a real FP: env 0.5.
        APs=0.5, ARs=1,
        # medium: only b counts; fp unmatched and not medium -> ignored; pa matched ignored a -> ignored.
        APm=1, ARm=1,
        # large: only c counts and nothing finds it (the three detections are ignored).
        APl=0, ARl=0,
    )


def test_no_predictions_at_all(vis_case, masks):
    # The official code crashes on an empty results list; the metric says: nothing found.
    case = vis_case().video(1, frames=1).instance(1, [square(masks, 0, 0)])
    expect(case.evaluate(), AP=0, AP50=0, AP75=0, APs=0, APm=-1, APl=-1, AR1=0, AR10=0, AR100=0, ARs=0, ARm=-1, ARl=-1)


def test_no_ground_truth_at_all(vis_case, masks):
    case = vis_case().video(1, frames=1).predict(1, [square(masks, 0, 0)], score=0.5)
    assert set(case.evaluate().values()) == {-1.0}


def test_crowd_ground_truth(vis_case, masks):
    # r regular (2x2), c crowd (2x4, 8 px). P2 (0.95) and P3 (0.93) are 2x2 halves of c: video IoU 0.5
    # (YouTube-VIS uses the plain IoU for crowd, not COCO's |d & g| / |d|). P1 (0.9) = r.
    # IoU 0.50: P2 and P3 both match the crowd (it can be matched again) -> ignored; P1 TP -> AP 1.
    # IoU >= 0.55: P2, P3 are FPs before P1: tp [0,0,1], fp [1,2,2], env 1/3 -> AP 1/3.
    case = vis_case().video(1, frames=1)
    case.instance(1, [masks.rect(4, 4, 0, 2, 0, 2)]).instance(1, [masks.rect(4, 4, 2, 4, 0, 4)], iscrowd=1)
    case.predict(1, [masks.rect(4, 4, 2, 4, 0, 2)], score=0.95)
    case.predict(1, [masks.rect(4, 4, 2, 4, 2, 4)], score=0.93)
    case.predict(1, [masks.rect(4, 4, 0, 2, 0, 2)], score=0.9)
    expect(case.evaluate(), AP=(1 + 9 / 3) / 10, AP50=1, AP75=1 / 3, AR1=0, AR100=1)


def test_results_list_shorter_than_the_video(vis_case, masks):
    # The official code zips the two lists: a 2-item prediction of a 3-frame video is compared over
    # frames 0-1 only, where it is perfect (padding it with an absent frame would give IoU 8/12).
    case = vis_case().video(1, frames=3)
    case.instance(1, [square(masks, 0, 0)] * 3).predict(1, [square(masks, 0, 0)] * 2, score=0.5)
    expect(case.evaluate(), AP=1, AR100=1)


def test_unknown_category_in_results_is_left_out(vis_case, masks):
    # As the official code: a prediction of a category the GT does not list is not evaluated.
    case = vis_case().video(1, frames=1).instance(1, [square(masks, 0, 0)])
    case.predict(1, [square(masks, 0, 0)], score=0.9, category_id=7)
    expect(case.evaluate(), AP=0, AR100=0)


def test_annotation_id_zero_counts_as_unmatched(vis_case, masks):
    # The official code records a match by annotation id, so a match with id 0 reads as "no match":
    # the perfect prediction becomes a false positive. gvis keeps the official number.
    case = vis_case().video(1, frames=1).instance(1, [square(masks, 0, 0)], ann_id=0)
    case.predict(1, [square(masks, 0, 0)], score=0.9)
    expect(case.evaluate(), AP=0, AR100=0)


def test_more_than_100_predictions_keep_the_best_100(vis_case, masks):
    # 100 false positives scored above the one true positive push it out of the 100 kept.
    case = vis_case().video(1, frames=1).instance(1, [square(masks, 0, 0)])
    for _ in range(100):
        case.predict(1, [square(masks, 2, 2)], score=0.9)
    case.predict(1, [square(masks, 0, 0)], score=0.5)
    expect(case.evaluate(), AP=0, AR100=0)
    case.results[0]["score"] = 0.1  # now the true positive is among the best 100, behind 99 FPs
    stats = case.evaluate()
    expect(stats, AR100=1, AR10=0, AP=1 / 100)  # precision 1/100 at every recall point


def test_uncompressed_rle_and_polygons_in_results(vis_case, masks):
    # The official code crashes on these; gvis rasterises them like pycocotools does for ground truth.
    target = masks.rect(8, 8, 2, 6, 2, 6)
    case = vis_case().video(1, frames=2, height=8, width=8).instance(1, [target, target])
    uncompressed = {"size": [8, 8], "counts": [18, 4, 4, 4, 4, 4, 4, 4, 18]}
    polygon = [[2.0, 2.0, 6.0, 2.0, 6.0, 6.0, 2.0, 6.0]]
    case.results.append({"video_id": 1, "category_id": 1, "score": 0.9, "segmentations": [uncompressed, polygon]})
    from pycocotools import mask as mask_utils

    polygon_rle = mask_utils.frPyObjects(polygon, 8, 8)[0]
    reference = vis_case().video(1, frames=2, height=8, width=8).instance(1, [target, target])
    reference.results.append({"video_id": 1, "category_id": 1, "score": 0.9, "segmentations": [
        masks.rle(target), {"size": [8, 8], "counts": polygon_rle["counts"].decode()}]})
    stats = case.evaluate()
    assert stats == reference.evaluate()
    assert 0 < stats["AP"] < 1  # the polygon's rasterisation differs from the square: a real check


def test_per_category(vis_case, masks):
    case = vis_case(categories=((1, "person"), (2, "dog"), (3, "cat"))).video(1, frames=1)
    case.instance(1, [square(masks, 0, 0)], category_id=1).instance(1, [square(masks, 2, 2)], category_id=2)
    case.predict(1, [square(masks, 0, 0)], score=0.9, category_id=1)
    case.predict(1, [square(masks, 0, 0)], score=0.9, category_id=2)
    stats = case.evaluate(per_category=True)
    assert stats["per_category"] == pytest.approx({"person": 1.0, "dog": 0.0, "cat": -1.0})
    assert stats["AP"] == pytest.approx(0.5)  # mean over the categories with ground truth


def test_class_agnostic(vis_case, masks):
    case = vis_case(categories=((1, "person"), (2, "dog"), (3, "cat"))).video(1, frames=1)
    case.instance(1, [square(masks, 0, 0)], category_id=1).instance(1, [square(masks, 2, 2)], category_id=2)
    case.predict(1, [square(masks, 0, 0)], score=0.9, category_id=2)  # right mask, wrong class
    case.predict(1, [square(masks, 2, 2)], score=0.8, category_id=1)  # right mask, wrong class
    case.predict(1, [square(masks, 0, 0)], score=0.7, category_id=3)  # a duplicate, ranked last
    expect(case.evaluate(), AP=0, AP50=0)
    # One category: tp, tp, fp in score order -> AP 1; one track per video (AR1) finds one of the two.
    expect(case.evaluate(class_agnostic=True), AP=1, AP50=1, AP75=1, AR1=0.5, AR10=1)
    with pytest.raises(ValueError, match="exclude each other"):
        case.evaluate(per_category=True, class_agnostic=True)


def test_class_agnostic_counts_categories_the_ground_truth_lacks(vis_case, masks):
    # A class-agnostic proposal method labels everything with its own "object" (id 9 here).
    case = vis_case(categories=((1, "person"), (2, "dog"))).video(1, frames=1)
    case.instance(1, [square(masks, 0, 0)], category_id=1).instance(1, [square(masks, 2, 2)], category_id=2)
    case.predict(1, [square(masks, 0, 0)], score=0.9, category_id=9)
    case.predict(1, [square(masks, 2, 2)], score=0.8, category_id=9)
    expect(case.evaluate(), AP=0, AR100=0)
    expect(case.evaluate(class_agnostic=True), AP=1, AR1=0.5, AR100=1)


def test_paths_and_objects_give_the_same_stats(vis_case, masks, tmp_path):
    case = vis_case().video(1, frames=2)
    case.instance(1, [square(masks, 0, 0)] * 2).predict(1, [square(masks, 0, 1), None], score=0.3)
    gt_path, results_path = case.write(tmp_path)
    assert evaluate(gt_path, results_path) == case.evaluate()


def test_long_videos_are_split_into_frame_chunks(vis_case, masks, monkeypatch):
    # pycocotools counts pixels in 32 bits, so video RLEs cover at most 2^32 - 1 pixels; longer
    # videos are cut into frame chunks whose intersections are summed. Force 2-frame chunks here.
    import gvis.eval.ytvis_ap as ytvis_ap

    rng = np.random.default_rng(0)
    case = vis_case().video(1, frames=5, height=5, width=4)
    objects = [[rng.random((5, 4)) < 0.5 for _ in range(5)] for _ in range(3)]
    for frames in objects:
        case.instance(1, frames)
    for score, frames in zip((0.9, 0.8, 0.7, 0.6), objects + objects[:1]):  # noisy copies, one duplicate
        case.predict(1, [m ^ (rng.random(m.shape) < 0.2) if rng.random() < 0.8 else None for m in frames], score=score)
    whole = case.evaluate()
    monkeypatch.setattr(ytvis_ap, "MAX_VOLUME", 2 * 5 * 4)
    assert case.evaluate() == whole
    assert 0 < whole["AP50"] < 1


def test_ties_in_random_order_keep_the_score_order_and_draw_the_ties(vis_case, masks):
    # The across-videos tie above (the evaluator puts video 1's false positive first) plus two distinct scores;
    # with the tie drawn, video 2's true positive comes first in some orders and not in others.
    case = vis_case().video(1, frames=1).video(2, frames=1)
    case.instance(1, [square(masks, 0, 0)]).instance(2, [square(masks, 0, 0)])
    case.predict(2, [square(masks, 0, 0)], score=0.5).predict(1, [square(masks, 2, 2)], score=0.5)
    case.predict(1, [square(masks, 0, 2)], score=0.9).predict(2, [square(masks, 2, 0)], score=0.1)
    given = [dict(entry) for entry in case.results]
    rng = np.random.default_rng(0)
    aps = set()
    for _ in range(20):
        ranked = ties_in_random_order(case.results, rng)
        assert case.results == given  # inputs unchanged
        scores = [entry["score"] for entry in ranked]
        assert sorted(scores) == [n / 5 for n in range(1, 5)]  # a strict order of ranks in (0, 1)
        assert scores[2] == 4 / 5 and scores[3] == 1 / 5  # distinct scores keep their places
        assert [{k: v for k, v in entry.items() if k != "score"} for entry in ranked] == [
            {k: v for k, v in entry.items() if k != "score"} for entry in given]
        aps.add(round(evaluate(case.dataset(), ranked)["AP"], 12))
    # A false positive (0.9) first, then the tie: TP, FP (precision 1/2 up to recall 0.5) or FP, TP (1/3).
    assert aps == {round(51 / 101 / 2, 12), round(51 / 101 / 3, 12)}
