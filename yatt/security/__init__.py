"""TLS credentials, bearer-token interceptors, development certificates and secure etcd access."""
