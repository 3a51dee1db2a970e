"""Fan-out: shared subscriptions (and brokers)."""
