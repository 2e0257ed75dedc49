"""Use cases, one module each: upload, stored (remote ls), verify, remote_verify,
download, prune, status, doctor, link, connections.

They receive what they need explicitly (settings, the store, `targets.Targets`) and
never print; `context.Context` composes those pieces for one run.
"""
