"""The chain side: devnet process, contract artifacts and deployment, the web3 client.

Modules: ``devnet`` (anvil as a background process), ``artifacts`` (forge build output),
``deploy`` (token + coordinator deployment and its JSON record), ``client`` (typed calls
and transactions; a facade over ``client_base``, ``account_reads``, ``round_reads``,
``history``, ``transactions`` and ``records``), ``merkle`` (the reward tree the contract
verifies), ``peer`` (libp2p peer ids as on-chain bytes), ``errors`` (one-line failures).
"""
