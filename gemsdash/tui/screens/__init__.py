"""Full screens: each owns its keys and its actions, reads through the session and posts up what the app must do."""
