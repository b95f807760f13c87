"""greenbar's command-line client: a pure HTTP client of the REST API (standard library only).

It imports nothing from `app`, `tasks` or `web`; everything it knows about greenbar comes over
HTTP, in the shapes the README documents.
"""
