"""Storage providers behind one small protocol (see `base`)."""
