"""The dashboard's screens, widgets and styles; `gemsdash.app.GemsdashApp` puts them together."""
