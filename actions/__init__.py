"""Custom actions of the movie assistant, served by `rasa run actions --actions actions`.

They are thin: each reads the turn, asks :class:`recengine.service.MovieService` (loaded once
when the server starts) and picks a response from ``domain.yml``.
"""
