"""Learning tasks: model, local data, train and evaluate. No network, no chain."""
