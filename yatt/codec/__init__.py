"""Wire codecs: tensors as raw bytes + dtype + shape, chunked streams, msgpack metadata."""
