"""A free TCP port on loopback for a service a test starts.

Picked below the kernel's ephemeral range (32768-60999 on Linux): a port the kernel hands
out for outgoing connections can be taken by any client between a service's stop and its
restart on the same port, which made a test that restarts anvil on one URL flaky.
"""

import random
import socket

LOW, HIGH = 20_000, 32_000


def free_port() -> int:
    for _ in range(200):
        port = random.randrange(LOW, HIGH)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in [{LOW}, {HIGH}) on 127.0.0.1")
