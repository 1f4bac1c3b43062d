"""The session core: a conversation without a screen.

`core.Session` owns the conversation tree (`tree`), its turns (`turns`) and the records that
save it (`store`, `records`); `forking` forces a token and continues from it. Nothing here
imports Textual: the app, the CLI and the tests drive the same code.
"""
