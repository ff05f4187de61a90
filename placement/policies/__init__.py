"""Placement policies: given a PlacementState, which slots to move; one file per policy."""
