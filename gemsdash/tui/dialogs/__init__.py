"""Modal dialogs: they ask, show or edit, and dismiss with the answer; the screen that opened one acts on it."""
