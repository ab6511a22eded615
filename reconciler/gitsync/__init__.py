"""With `specs_remote`: the hub's clone of the specs' git remote, pulled on an interval and on the
webhook, and the push of the web form's commits (rebased on a non-fast-forward)."""
