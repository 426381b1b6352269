"""flowmetrics read API: serves the app's analytics endpoints from the published store."""
