"""The shared kernel: configuration, database, ids, errors, rate limits, observability."""
