"""``python -m bot``: start the assistant and its web chat (see bot.launcher)."""

from bot.launcher import main

raise SystemExit(main())
