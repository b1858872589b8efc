"""Whether a detector collapsed: a failure that mAP alone hides.

A collapsed detector answers every image with the same boxes and scores (its output does not depend on the input),
or fires far more boxes than there are objects. `health(preds, split)` measures both on a split's predictions;
training records it in its result and says it in the run's report, and the detection page refuses to present a
collapsed detector's pictures as a result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neuralab.data.detection import DetSplit

RANKS = 10  # score ranks compared across images
OVER_FIRING = 3  # more boxes at the threshold than this many per object: over-firing


@dataclass(frozen=True)
class Health:
    """Whether the detector's output depends on its input, and how many boxes it fires per object."""

    objects: int  # ground-truth boxes in the images
    detections: int  # predicted boxes at or above the score threshold
    score_spread: float  # mean over the top-10 score ranks of their std across images (0: the same everywhere)
    box_spread: float  # std across images of the top box's corners, in pixels
    images: int
    threshold: float = 0.5

    @property
    def constant(self) -> bool:
        return self.images > 1 and self.score_spread < 1e-3 and self.box_spread < 0.5

    @property
    def over_firing(self) -> bool:
        return self.detections > OVER_FIRING * max(1, self.objects)

    @property
    def collapsed(self) -> bool:
        return self.constant or self.over_firing

    def sentence(self) -> str:
        if self.constant:
            return (f"The detector collapsed: it gives every test image the same boxes and scores (score spread "
                    f"{self.score_spread:.4f}, top-box spread {self.box_spread:.2f} px), so its output does not "
                    f"depend on the image. Its mAP is not a result.")
        if self.over_firing:
            return (f"The detector collapsed into over-firing: {self.detections:,} boxes score {self.threshold} or "
                    f"more on {self.images} test images that hold {self.objects:,} objects. Its mAP is not a result.")
        return (f"Its output depends on the image (score spread {self.score_spread:.3f} across test images) and it "
                f"fires {self.detections:,} boxes at score {self.threshold} or more for {self.objects:,} objects.")

    def to_json(self) -> dict[str, Any]:
        return {"collapsed": self.collapsed, "constant": self.constant, "over_firing": self.over_firing,
                "score_spread": self.score_spread, "box_spread": self.box_spread, "detections": self.detections,
                "objects": self.objects, "images": self.images, "threshold": self.threshold,
                "sentence": self.sentence()}


def health(preds: list[dict[str, Any]], split: DetSplit, threshold: float = 0.5) -> Health:
    """Collapse measurements of predictions on a split (boxes sorted by score, as torchvision returns them)."""
    scores = np.zeros((len(preds), RANKS))
    top = np.zeros((len(preds), 4))
    for i, p in enumerate(preds):
        s = np.sort(np.asarray(p["scores"], dtype=float))[::-1][:RANKS]
        scores[i, :len(s)] = s
        if len(p["boxes"]):
            top[i] = np.asarray(p["boxes"], dtype=float)[int(np.argmax(np.asarray(p["scores"])))]
    detections = int(sum(int((np.asarray(p["scores"]) >= threshold).sum()) for p in preds))
    return Health(int(sum(len(b) for b in split.boxes)), detections, float(scores.std(0).mean()),
                  float(top.std(0).mean()), len(preds), threshold)
