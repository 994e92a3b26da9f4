from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "inference"
    verbose_name = "Stimulus preparation"

    def ready(self):
        # Register the tasks in every process, not only in workers (whose start-up runs
        # Celery's autodiscovery): modules that send a task by its name
        # (inference.background) find it in the registry. The module imports no torch.
        from inference import tasks  # noqa: F401
