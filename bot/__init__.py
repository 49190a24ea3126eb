"""supportbot runtime: settings, language, intents, dialogue manager, channels and the app."""

__version__ = "0.1.0"
