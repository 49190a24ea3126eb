"""Channels adapt an outside transport (WebSocket widget, later the helpdesk) to the dialogue manager."""
