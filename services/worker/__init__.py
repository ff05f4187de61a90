"""The worker: a supervisor that hosts whichever role placement assigns to its slot."""
