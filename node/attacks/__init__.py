"""Byzantine behaviours for simulation, benchmarks and tests (usable by name).

Each model-side attack is a pure function of an ``AttackContext`` (what an omniscient
attacker sees: the honest deltas of the round, the rule in use, the previous global
delta) returning ``f`` Byzantine fixed-point deltas. Label flip is a data-side attack
(a label transform the attacker trains with); withholding is a protocol behaviour
(commit, never serve), declared here so configs and benchmarks can name it.
"""

from node.attacks.base import Attack, AttackContext, attack_names, get_attack
from node.attacks.model import flip_labels

__all__ = ["Attack", "AttackContext", "attack_names", "flip_labels", "get_attack"]
