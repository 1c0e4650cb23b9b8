"""What operators do (devnet, deploy, staking, rewards, rounds, model export).

Shared by the CLI and scripts/; each function prints for people or returns plain data
for ``--json``. Modules import torch, web3 and libp2p only where they need them.
"""
