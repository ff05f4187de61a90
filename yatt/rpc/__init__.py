"""The gRPC runtime every yatt service shares: server, admission, error mapping, channels."""
