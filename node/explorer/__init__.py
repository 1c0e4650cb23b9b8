"""`fedchain explorer`: a read-only web view of a deployment's rounds (docs/explorer.md).

A background task (sync.py) copies the chain's events and views, and the nodes' status
records, into SQLite (db.py); the pages (app.py, views.py) read that index only.
"""
