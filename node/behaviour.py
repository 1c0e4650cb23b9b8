"""What a node does with its local training before it commits: honest by default.

The round engine (node/commit.py) asks ``ctx.behaviour`` which data to train on, whether to
replace the trained delta, and whether to serve the committed blob. Only the honest
behaviour lives here; simulations plug Byzantine ones in from ``node/attacks/`` at their
own composition root (``python -m node.attacks``), so the honest path never imports them.
"""

from __future__ import annotations

from collections.abc import Callable

from node.aggregate.registry import Rule
from node.learning.tasks import Dataset
from node.update.fixedpoint import FixedParams

Trainer = Callable[[Dataset, int], FixedParams]  # (data, seed) -> a delta trained from the base


class UpdateBehaviour:
    """The honest behaviour; subclasses override what they change."""

    # replaces the trained delta (``craft``); such a node never adds DP noise either
    crafts: bool = False
    # False: commit the update's CID but never store the blob where peers can fetch it
    serves: bool = True

    def training_data(self, train: Dataset, local: Dataset) -> Dataset:
        """The data this node trains on, from the deployment's whole training split and
        this node's partition of it (honest: the partition)."""
        return local

    def craft(
        self, own: FixedParams, retrain: Trainer, rule: Rule, norm_bound: float, r: int
    ) -> FixedParams:
        """The delta committed in round ``r`` instead of ``own`` (honest: ``own``)."""
        return own


HONEST = UpdateBehaviour()
