"""Worker side of stimulus preparation: loads models (torch) and computes what jobs ask
for. Imported only by Celery tasks and the embedded in-process runner, never by views."""
