"""What CI runs before a plan: the static checks, and the plan summary posted to the pull request."""
