"""Protocol buffers of every yatt service and their generated Python modules (yatt.protos)."""
