"""Pure checks on a peer update: header binding, shapes, norm bound."""
