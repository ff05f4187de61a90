"""Starting yatt processes: the registry of roles, the one launcher, the process handle.

Core: nothing here imports a process package; the registry names config classes and entry
points by dotted path and imports them only when a process of that role starts.
"""
