"""The bottom layer, shared by catalog/, solvers/ and planner/: the error vocabulary every user-facing
error belongs to (so the CLI catches one hierarchy) and the one reader of user files. It imports nothing
else of the project."""
