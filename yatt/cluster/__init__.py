"""A local cluster: etcd and every yatt process started here, each with its own log file."""
