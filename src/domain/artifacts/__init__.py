"""What a run leaves: the bundle writer, its codec and export, hashes, records and tags."""
