"""OAuth plumbing that does not depend on any provider SDK.

`session` owns a pending authorization (state, PKCE, expiry) and its on-disk store,
`listener` the one-shot loopback callback listener, `tokens` the refresh-token store.
Nothing here imports the dropbox SDK, and only `tokens` imports keyring (lazily), so
importing this package costs nothing at start-up.
"""
