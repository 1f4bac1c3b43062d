"""`playground serve`: the same app in a browser, one app process per tab (textual-serve),
with an access token beyond loopback, a session limit and a projector look."""
