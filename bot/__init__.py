"""The assistant's front door: the launcher, the web chat and the channel and scale-out set-up.

``python -m bot`` builds what is missing and starts the action server, the Rasa server and the
web chat (see :mod:`bot.launcher`).
"""
