"""`fedchain demo`: a local devnet, N node processes, live progress, a report and plots."""
