"""The reference service: per-token log-probs of given token ids under a frozen model."""
