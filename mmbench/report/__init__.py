"""Reports built from stored run records only: they never train anything."""
